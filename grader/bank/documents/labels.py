"""Topic and level of an imported question: what the page says when it names one of the bank's,
else a guess from the question's words (keywords per topic of the bank; the bank's rule for
levels: definitions are basic, design trade-offs and comparisons advanced)."""

from __future__ import annotations

import re

from grader.bank.questions import LEVELS, TOPICS

DEFAULT_TOPIC, DEFAULT_LEVEL = "fundamentals", "intermediate"

# Checked in this order: a question about "attention in RNNs" is about transformers, one about
# "dropout in CNNs" about regularization. Words are matched at word starts, so "convolution"
# also finds "convolutional".
TOPIC_KEYWORDS = (
    ("transformers", r"transformer|attention|bert|gpt|positional encod|language model|beam search|"
                     r"quer(y|ies),? keys?"),
    ("generative", r"gan\b|gans\b|generative|generator|discriminator|autoencoder|vae\b|variational|"
                   r"diffusion|mode collapse|reparameteri[sz]ation|wavenet"),
    ("rnn", r"recurrent|rnns?\b|lstm|gru\b|grus\b|sequence|backpropagation through time|bptt|"
            r"forget gate|encoder-decoder|seq2seq"),
    ("cnn", r"convolution|cnns?\b|pool|kernel|filter|stride|padding|resnet|residual|skip connection|"
            r"receptive field|feature map|inception|capsule|saliency|grad-cam|image segmentation|"
            r"object detection|dilat|depthwise|spatial transformer"),
    ("regularization", r"regulari[sz]|dropout|overfit|underfit|early stopping|weight decay|"
                       r"label smoothing|l1\b|l2\b"),
    ("optimization", r"optimi[sz]er|gradient descent|sgd|adam\b|momentum|learning rate|vanishing|exploding|"
                     r"rmsprop|adagrad|convergence|saddle|gradient clipping|evolutionary"),
    ("learning-paradigms", r"supervised|unsupervised|self-supervised|semi-supervised|reinforcement|"
                           r"zero-shot|few-shot|one-shot|meta-learning|contrastive|siamese|triplet|"
                           r"active learning|multi-task"),
    ("deployment", r"deploy|distillation|prun|quantiz|compress|edge device|inference latency|serving"),
    ("applications", r"applications?\b|speech recognition|healthcare|medical|autonomous|cybersecurity|"
                     r"natural language processing|nlp\b|computer vision|time series forecast|"
                     r"word2vec|glove|multimodal|predictive analytics"),
    ("training", r"initiali[sz]|normali[sz]ation|batch norm|hyperparameter|batch size|epoch|augmentation|"
                 r"transfer learning|fine-tun|imbalanc|preprocess|missing data|validation|evaluat|metric|"
                 r"accuracy|mixed.precision|checkpoint|freez|curriculum|reproducib|confusion matrix|"
                 r"feature scaling|architecture search|distributed|parallel training|gpu\b|adversarial"),
)
_TOPIC_RX = [(topic, re.compile(r"\b(?:" + words + ")", re.I)) for topic, words in TOPIC_KEYWORDS]

_ADVANCED = re.compile(r"trade-?off|compare|contrast|differ|pitfall|limitation|drawback|in what scenarios|"
                       r"when would you|design|scenario|challenges", re.I)
_DEFINITION = re.compile(r"^(what (is|are|does)|define|which|what do you mean by)\b", re.I)
_LEVEL_WORDS = {"basic": "basic", "beginner": "basic", "easy": "basic", "fresher": "basic",
                "intermediate": "intermediate", "medium": "intermediate",
                "advanced": "advanced", "hard": "advanced", "expert": "advanced", "experienced": "advanced"}


def topic_for(stated: str, question: str, answer: str = "") -> str:
    """The bank topic the page names (its wording or keywords), else the one the question's
    keywords point to (the answer's when the question says nothing), else the default."""
    folded = stated.strip().casefold().replace(" ", "-")
    if folded in TOPICS:
        return folded
    for text in (stated, question, answer[:300]):
        found = infer_topic(text)
        if found:
            return found
    return DEFAULT_TOPIC


def infer_topic(text: str) -> str:
    for topic, rx in _TOPIC_RX:
        if rx.search(text or ""):
            return topic
    return ""


def level_for(stated: str, question: str) -> str:
    folded = stated.strip().casefold()
    if folded in LEVELS:
        return folded
    if folded.split() and folded.split()[0] in _LEVEL_WORDS:
        return _LEVEL_WORDS[folded.split()[0]]
    return infer_level(question)


def infer_level(question: str) -> str:
    if not question:
        return DEFAULT_LEVEL
    if _ADVANCED.search(question) or question.count("?") >= 2:
        return "advanced"
    if _DEFINITION.match(question) and len(question.split()) <= 10:
        return "basic"
    return DEFAULT_LEVEL


# An answer that opens by naming its subject ("Mode collapse occurs when ...", "A VAE is ...").
_ARTICLE = r"^(?:([Aa]n?|[Tt]he)\s+)?"
_SUBJECT = r"([A-Za-z][^\s,:;.]*(?:\s+[^\s,:;.]+){0,5}?)"
_SUBJECT_IS = re.compile(_ARTICLE + _SUBJECT + r"\s+(is|are|refers to)\s")
# Verbs an answer defines its subject with; those that are also nouns ("set", "map") only with
# their -s, where they cannot be the subject's last word ("A validation set provides").
_VERBS = ("allow|add|compute|convert|measure|keep|normali[sz]e|monitor|increase|reduce|replace|divide|involve|"
          "learn|transfer|take|expand|remove|condition|compare|adapt|reparameteri[sz]e|corrupt|introduce|"
          "represent|occur|provide|ensure|consist|perform|handle|integrate|apply|combine|prevent|enable|mean|"
          "generate|produce|encode|predict|extend|capture|operate")
_NOUN_VERBS = "uses|caps|trains|sets|maps|outputs|shares|splits"
_SUBJECT_DOES = re.compile(_ARTICLE + _SUBJECT + r"(?:\s+\([^)]{1,60}\))?\s+(?:[a-z]+ly\s+)?"
                           r"(?:(" + _VERBS + r")(s|es)?|(simplif)(y|ies)|(" + _NOUN_VERBS + r")())\s")
_NOT_SUBJECT = re.compile(r"^(both|while|by|without|as|techniques|it|this|these|there|in|when|if|for|with|"
                          r"approaches|common|smaller|larger|deploying|normalizing|embeddings|deep networks)\b", re.I)


def question_from_answer(answer: str) -> str:
    """"What is X?" for an answer that defines X in its first words; "" when it does not (a list,
    a comparison), since guessing further would put words in the page's mouth."""
    first = answer.split("\n", 1)[0].strip()
    if _NOT_SUBJECT.match(first):
        return ""
    m = _SUBJECT_IS.match(first)
    if m:
        return f"What {m.group(3)} {_with_article(m.group(1), m.group(2))}?".replace(" refers to ", " is ")
    m = _SUBJECT_DOES.match(first)
    if m:
        plural = (m.group(3) and not m.group(4)) or m.group(6) == "y"   # "layers reduce", "... simplify"
        return f"What {'are' if plural else 'is'} {_with_article(m.group(1), m.group(2))}?"
    return ""


def _with_article(article: str | None, subject: str) -> str:
    return f"{article.lower()} {subject}" if article else subject
