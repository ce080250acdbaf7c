"""Rubric coverage family: how much of the question's rubric the answer's concept matches
(`concepts.ConceptMatcher`, run before the matrix) cover, by weight, and whether the rubric was
drafted by the program rather than reviewed."""

from __future__ import annotations

import numpy as np

from grader.signals.context import Group
from grader.signals.registry import register

SLOTS = {"rubric_coverage": 6, "rubric_matched": 7, "required_matched": 8, "contradicted": 9, "rubric_drafted": 22}


def columns(g: Group) -> dict[str, np.ndarray]:
    coverage, soft, required_matched, contradicted = np.zeros(g.n), np.zeros(g.n), np.zeros(g.n), np.zeros(g.n)
    for a, p in enumerate(g.pairings):
        matches = p.matches
        total_weight = sum(m.concept.weight for m in matches) or 1.0
        coverage[a] = sum(m.concept.weight for m in matches if m.status == "matched") / total_weight
        soft[a] = sum(m.concept.weight * m.score for m in matches if m.status == "matched") / total_weight
        required = [m.status == "matched" for m in matches if m.concept.required]
        required_matched[a] = sum(required) / len(required) if required else coverage[a]
        contradicted[a] = sum(m.concept.weight for m in matches if m.status == "contradicted") / total_weight
    return {
        "rubric_coverage": coverage,
        "rubric_matched": soft,
        "required_matched": required_matched,
        "contradicted": contradicted,
        # Drafted rubrics match less reliably than reviewed ones; the model learns to lean on them less.
        "rubric_drafted": np.array([float(p.rubric_drafted) for p in g.pairings]),
    }


SIGNALS = register("coverage", SLOTS, columns)
