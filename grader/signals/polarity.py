"""Polarity family: answer sentences that align closely with a reference sentence but flip it,
by a negation about what the reference says (negation_mismatch) or by swapping a term for its
antonym or for another term of the reference (reversal). Each is the best cosine of such a pair."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from grader.core.text import ANTONYMS, STOPWORDS, is_negation, stem, words
from grader.signals.context import Group
from grader.signals.registry import register

SLOTS = {"negation_mismatch": 10, "reversal": 11}
NEGATION_SCOPE = 5   # words after a negation cue that it can scope over


@dataclass(frozen=True)
class _SentenceFacts:
    """What the reversal and negation checks compare of a sentence, computed once per text."""
    stems: frozenset          # stems of its words that are not stopwords
    negated: tuple            # per negation cue: the stems of the content words it scopes over
    antonyms: tuple           # (stem of a word, stem of its antonym), in word order


@lru_cache(maxsize=1024)
def _sentence_facts(text: str) -> _SentenceFacts:
    ws = words(text)
    negated = tuple(tuple(stem(v) for v in ws[i + 1:i + 1 + NEGATION_SCOPE] if v not in STOPWORDS)
                    for i, w in enumerate(ws) if is_negation(w))
    return _SentenceFacts(frozenset(stem(w) for w in ws if w not in STOPWORDS), negated,
                          tuple((stem(w), stem(ANTONYMS[w])) for w in ws if w in ANTONYMS))


def _negations_about(sentence: _SentenceFacts, other: _SentenceFacts) -> int:
    """The negation cues of `sentence` that deny something `other` talks about: the first content
    word after the cue, or half of those in its scope, occur in `other` (a cue with nothing after
    it counts). "...set to zero so that it doesn't affect the next layer" does not deny "dropout
    drops neurons"; "dropout does not drop neurons" does."""
    def about(scope):
        return (not scope or scope[0] in other.stems
                or 2 * sum(s in other.stems for s in scope) >= len(scope))
    return sum(1 for scope in sentence.negated if about(scope))


@lru_cache(maxsize=1024)
def _all_stems(text: str) -> frozenset:
    return frozenset(stem(w) for w in words(text))


def _reversal(answer_sentence: _SentenceFacts, answer_text: str, reference_sentence: _SentenceFacts,
              reference_text: str) -> bool:
    """An answer sentence that mirrors a reference sentence with one term swapped for its antonym
    or for another term of the same reference ("L2 gives sparse weights" against "L1 gives ...")."""
    only_a = answer_sentence.stems - reference_sentence.stems
    if not only_a or len(only_a) > 3:
        return False
    only_r = reference_sentence.stems - answer_sentence.stems
    if any(anti in only_r and own in only_a for own, anti in answer_sentence.antonyms):
        return True
    # Swapped roles: the answer's extra term is elsewhere in the reference, and the term it
    # replaced is elsewhere in the answer.
    return 0 < len(only_r) <= 3 and only_a <= _all_stems(reference_text) and only_r <= _all_stems(answer_text)


def columns(g: Group) -> dict[str, np.ndarray]:
    neg_mismatch, reversal = np.zeros(g.n), np.zeros(g.n)
    for ref, s in zip(g.refs, g.sentence_alignments):
        best, closest, starts = s.best, s.closest, s.starts
        # Only the pairs that align closely are read word by word.
        for j in np.flatnonzero((best >= 0.6) & (closest < len(ref.sentence_spans))).tolist():
            a = int(np.searchsorted(starts, j, side="right")) - 1
            spans = g.parts.sentence_spans[g.answers[a]]
            if j - starts[a] >= len(spans):
                continue   # the answer's whole vector standing in for sentences it lacks
            a_facts = _sentence_facts(spans[j - starts[a]].text)
            r_facts = _sentence_facts(ref.sentence_spans[closest[j]].text)
            sim = float(best[j])
            if (_negations_about(a_facts, r_facts) + _negations_about(r_facts, a_facts)) % 2 == 1:
                neg_mismatch[a] = max(neg_mismatch[a], sim)
            if _reversal(a_facts, g.batch.encoded[g.answers[a]].text, r_facts, ref.text):
                reversal[a] = max(reversal[a], sim)
    return {"negation_mismatch": neg_mismatch, "reversal": reversal}


def forget() -> None:
    """Empty this family's memos, as a fresh process has them (benchmarks time cold runs)."""
    _sentence_facts.cache_clear()
    _all_stems.cache_clear()


SIGNALS = register("polarity", SLOTS, columns)
