"""The signals that compare one answer with a question's references and rubric."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .concepts import ConceptMatch
from .embedding import Encoded
from .text import (ANTONYMS, NEGATIONS, STOPWORDS, content_stems, sentences, stem, stopword_ratio,
                   word_spans, words)

FEATURES = (
    "cos_max", "cos_mean", "cos_short", "ref_recall", "answer_precision", "worst_sentence",
    "rubric_coverage", "rubric_matched", "required_matched", "contradicted",
    "negation_mismatch", "reversal",
    "lex_recall", "lex_precision", "question_copy", "cos_question", "cos_gain_over_question",
    "log_words", "length_ratio", "stopword_ratio", "comma_density", "short_reference", "rubric_drafted",
    "token_recall", "token_precision",
)


@dataclass
class _Sentences:
    spans: list
    vectors: np.ndarray   # (n, dim)


def _sentence_vectors(enc: Encoded) -> _Sentences:
    spans = sentences(enc.text)
    vecs = [enc.span(s.start, s.end) for s in spans]
    keep = [(s, v) for s, v in zip(spans, vecs) if v is not None]
    if not keep:
        return _Sentences([], enc.vector[None, :])
    return _Sentences([s for s, _ in keep], np.stack([v for _, v in keep]))


@dataclass
class _ContentTokens:
    """Normalised token vectors of a text's content words, with the stem of the word each belongs to."""
    vectors: np.ndarray   # (n, dim)
    stems: np.ndarray     # (n,) str


def _content_tokens(enc: Encoded) -> _ContentTokens:
    spans = word_spans(enc.text)
    if len(enc.offsets) == 0 or not spans:
        return _ContentTokens(np.zeros((0, enc.vector.shape[0])), np.array([], dtype=object))
    starts = np.array([s for _, s, _ in spans])
    ends = np.array([e for _, _, e in spans])
    at = np.searchsorted(starts, enc.offsets[:, 0], side="right") - 1
    inside = (at >= 0) & (enc.offsets[:, 1] <= ends[np.maximum(at, 0)])
    keep, token_stems = [], []
    for t, (ok, w) in enumerate(zip(inside, at)):
        word = spans[w][0] if ok else ""
        if word and word not in STOPWORDS and len(word) > 1:
            keep.append(t)
            token_stems.append(stem(word))
    vectors = enc.tokens[keep]
    vectors = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)
    return _ContentTokens(vectors, np.array(token_stems, dtype=object))


def _token_alignment(answer: _ContentTokens, ref: _ContentTokens, question_stems: set) -> tuple[float, float]:
    """Soft word alignment in the style of BERTScore, with question demoting: how well each content
    token of the reference is matched by some token of the answer (recall), and the reverse
    (precision), leaving out words the question already gives away."""
    if len(answer.stems) == 0 or len(ref.stems) == 0:
        return 0.0, 0.0
    ref_keep = np.array([s not in question_stems for s in ref.stems])
    answer_keep = np.array([s not in question_stems for s in answer.stems])
    if not ref_keep.any():
        ref_keep[:] = True
    if not answer_keep.any():
        return 0.0, 0.0
    sims = answer.vectors[answer_keep] @ ref.vectors[ref_keep].T
    return float(sims.max(axis=0).mean()), float(sims.max(axis=1).mean())


_REFERENCE_CACHE: dict[tuple[str, str], tuple] = {}


def _reference_info(ref: Encoded):
    """Sentence vectors, content stems, length and content tokens of a reference: computed once per
    text and embedding model."""
    key = (ref.model, ref.text)
    info = _REFERENCE_CACHE.get(key)
    if info is None:
        if len(_REFERENCE_CACHE) > 20_000:
            _REFERENCE_CACHE.clear()
        info = (_sentence_vectors(ref), set(content_stems(ref.text)), len(words(ref.text)), _content_tokens(ref))
        _REFERENCE_CACHE[key] = info
    return info


def _negations(text: str) -> int:
    return sum(1 for w in words(text) if w in NEGATIONS or w.endswith("n't"))


def _reversal(answer_sentence: str, answer_text: str, reference_sentence: str, reference_text: str) -> bool:
    """An answer sentence that mirrors a reference sentence with one term swapped for its antonym
    or for another term of the same reference ("L2 gives sparse weights" against "L1 gives ...")."""
    a = {stem(w) for w in words(answer_sentence) if w not in STOPWORDS}
    r = {stem(w) for w in words(reference_sentence) if w not in STOPWORDS}
    only_a, only_r = a - r, r - a
    if not only_a or len(only_a) > 3:
        return False
    for w in words(answer_sentence):
        anti = ANTONYMS.get(w)
        if anti and stem(anti) in only_r and stem(w) in only_a:
            return True
    # Swapped roles: the answer's extra term is elsewhere in the reference, and the term it
    # replaced is elsewhere in the answer.
    ref_stems = {stem(w) for w in words(reference_text)}
    answer_stems = {stem(w) for w in words(answer_text)}
    return 0 < len(only_r) <= 3 and only_a <= ref_stems and only_r <= answer_stems


def compute_features(question_text: str, question_vec: np.ndarray, answer: Encoded,
                     references: list[Encoded], reference_kinds: list[str],
                     matches: list[ConceptMatch], rubric_drafted: bool = False) -> dict[str, float]:
    text = answer.text
    answer_words = words(text)
    ref_vecs = np.stack([r.vector for r in references])
    cos = ref_vecs @ answer.vector
    short_mask = np.array([k == "short" for k in reference_kinds])

    ans_sent = _sentence_vectors(answer)
    recall, precision, worst = 0.0, 0.0, 0.0
    neg_mismatch, reversal = 0.0, 0.0
    ref_info = [_reference_info(r) for r in references]
    for ref, (ref_sent, *_) in zip(references, ref_info):
        sims = ref_sent.vectors @ ans_sent.vectors.T              # (ref sentences, answer sentences)
        recall = max(recall, float(sims.max(axis=1).mean()))
        precision = max(precision, float(sims.max(axis=0).mean()))
        worst = max(worst, float(sims.max(axis=0).min()))
        # Sentences of the answer that align closely with a reference sentence but flip it.
        for j, a_span in enumerate(ans_sent.spans):
            i = int(np.argmax(sims[:, j]))
            if sims[i, j] < 0.6 or i >= len(ref_sent.spans):
                continue
            r_text = ref_sent.spans[i].text
            if (_negations(a_span.text) - _negations(r_text)) % 2 == 1:
                neg_mismatch = max(neg_mismatch, float(sims[i, j]))
            if _reversal(a_span.text, text, r_text, ref.text):
                reversal = max(reversal, float(sims[i, j]))

    total_weight = sum(m.concept.weight for m in matches) or 1.0
    coverage = sum(m.concept.weight * (1.0 if m.status == "matched" else 0.0) for m in matches) / total_weight
    soft = sum(m.concept.weight * (m.score if m.status == "matched" else 0.0) for m in matches) / total_weight
    required = [m for m in matches if m.concept.required]
    required_matched = (sum(m.status == "matched" for m in required) / len(required)) if required else coverage
    contradicted = sum(m.concept.weight for m in matches if m.status == "contradicted") / total_weight

    a_stems = set(content_stems(text))
    q_stems = set(content_stems(question_text))
    ref_stem_sets = [info[1] for info in ref_info]
    all_ref_stems = set().union(*ref_stem_sets)
    lex_recall = max((len(a_stems & s) / len(s) if s else 0.0) for s in ref_stem_sets)
    lex_precision = len(a_stems & (all_ref_stems | q_stems)) / len(a_stems) if a_stems else 0.0
    question_copy = len(a_stems & q_stems) / len(a_stems) if a_stems else 0.0
    cos_q = float(question_vec @ answer.vector)
    ref_len = float(np.median([info[2] for info in ref_info]))
    answer_tokens = _content_tokens(answer)
    alignments = [_token_alignment(answer_tokens, info[3], q_stems) for info in ref_info]
    token_recall = max(r for r, _ in alignments)
    token_precision = max(p for _, p in alignments)

    return {
        "cos_max": float(cos.max()),
        "cos_mean": float(cos.mean()),
        "cos_short": float(cos[short_mask].max()) if short_mask.any() else float(cos.max()),
        "ref_recall": recall,
        "answer_precision": precision,
        "worst_sentence": worst,
        "rubric_coverage": coverage,
        "rubric_matched": soft,
        "required_matched": required_matched,
        "contradicted": contradicted,
        "negation_mismatch": neg_mismatch,
        "reversal": reversal,
        "lex_recall": lex_recall,
        "lex_precision": lex_precision,
        "question_copy": question_copy,
        "cos_question": cos_q,
        "cos_gain_over_question": float(cos.max()) - cos_q,
        "log_words": math.log1p(len(answer_words)),
        "length_ratio": math.log((len(answer_words) + 1) / (ref_len + 1)),
        "stopword_ratio": stopword_ratio(text),
        "comma_density": text.count(",") / (len(answer_words) + 1),
        "short_reference": float(short_mask.all()),
        # Drafted rubrics match less reliably than reviewed ones; the model learns to lean on them less.
        "rubric_drafted": float(rubric_drafted),
        "token_recall": token_recall,
        "token_precision": token_precision,
    }
