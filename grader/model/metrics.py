"""Agreement and calibration metrics shared by `grader eval`, `grader calibrate` and eval/."""

from __future__ import annotations

import numpy as np


def expected_calibration_error(proba: np.ndarray, y_idx: np.ndarray, bins: int = 10) -> float:
    """Top-label ECE: |accuracy - confidence| averaged over equal-width confidence bins."""
    proba = np.asarray(proba)
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == np.asarray(y_idx)
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


def reliability_bins(proba: np.ndarray, y_idx: np.ndarray, bins: int = 10):
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == np.asarray(y_idx)
    edges = np.linspace(0, 1, bins + 1)
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
        if mask.any():
            out.append((float(conf[mask].mean()), float(correct[mask].mean()), int(mask.sum())))
    return out


def brier(proba: np.ndarray, y_idx: np.ndarray) -> float:
    onehot = np.eye(proba.shape[1])[np.asarray(y_idx)]
    return float(((proba - onehot) ** 2).sum(axis=1).mean())


def classification_metrics(proba: np.ndarray, y_idx, labels) -> dict:
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

    y_idx = np.asarray(y_idx)
    pred = np.asarray(proba).argmax(axis=1)
    return {
        "n": int(len(y_idx)),
        "accuracy": float(accuracy_score(y_idx, pred)),
        "qwk": float(cohen_kappa_score(y_idx, pred, weights="quadratic", labels=list(range(len(labels))))),
        "macro_f1": float(f1_score(y_idx, pred, average="macro", labels=list(range(len(labels))), zero_division=0)),
        "ece": expected_calibration_error(proba, y_idx),
        "brier": brier(np.asarray(proba), y_idx),
    }


def regression_metrics(pred: np.ndarray, gold: np.ndarray) -> dict:
    from scipy.stats import pearsonr, spearmanr

    pred, gold = np.asarray(pred, float), np.asarray(gold, float)
    constant = np.std(pred) == 0 or np.std(gold) == 0
    return {
        "pearson": float("nan") if constant else float(pearsonr(pred, gold)[0]),
        "spearman": float("nan") if constant else float(spearmanr(pred, gold)[0]),
        "rmse": float(np.sqrt(np.mean((pred - gold) ** 2))),
        "mae": float(np.mean(np.abs(pred - gold))),
    }
