"""Self-contained HTML reports for `grader calibrate` and `grader eval`: figures are matplotlib PNGs
embedded as base64, so the file opens anywhere without network or scripts."""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

import numpy as np

from grader.files import write_atomically
from grader.model.metrics import reliability_bins

SYSTEM_NAMES = {"calibrated": "Calibrated (this model)", "default": "Bundled default model",
                "cosine": "Cosine baseline", "model": "Model"}
METRIC_ORDER = ("pearson", "spearman", "rmse", "mae", "qwk", "accuracy", "macro_f1", "ece", "brier")

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
td,th{border:1px solid #ddd;padding:.3em .6em;text-align:right}th{background:#f4f4f4}
td.l,th.l{text-align:left;max-width:520px}
.figs{display:flex;flex-wrap:wrap;gap:1em}.figs figure{margin:0}
figcaption{font-size:.85em;color:#555;max-width:460px}
.note{color:#555;font-size:.9em}
"""


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_base64(fig) -> str:
    """The figure as base64 PNG for a data: URI; the figure is closed."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(b64: str, alt: str, caption: str) -> str:
    return (f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return f"{v:.3f}"


def reliability_figure(systems: dict, y_idx) -> str:
    plt = pyplot()

    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], ls="--", color="#999", lw=1, label="perfect calibration")
    for name, proba in systems.items():
        bins = reliability_bins(np.asarray(proba), y_idx)
        if bins:
            conf, acc, n = zip(*bins)
            ax.plot(conf, acc, marker="o", label=SYSTEM_NAMES.get(name, name))
    ax.set_xlabel("confidence of the top label")
    ax.set_ylabel("share correct")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("Reliability diagram")
    return png_base64(fig)


def confusion_figure(y_idx, pred_idx, labels) -> str:
    plt = pyplot()

    k = len(labels)
    cm = np.zeros((k, k), dtype=int)
    for a, b in zip(y_idx, pred_idx):
        cm[a, b] += 1
    fig, ax = plt.subplots(figsize=(0.6 * k + 2.6, 0.6 * k + 2.2))
    ax.imshow(cm, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black", fontsize=9)
    ax.set_xticks(range(k), labels, rotation=45, ha="right")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("human")
    ax.set_title("Confusion matrix")
    return png_base64(fig)


def scatter_figure(pred, gold, scale) -> str:
    plt = pyplot()

    rng = np.random.default_rng(0)
    lo, hi = scale
    jitter = (hi - lo) * 0.01
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.scatter(np.asarray(gold) + rng.normal(0, jitter, len(gold)), pred, s=6, alpha=0.35)
    ax.plot([lo, hi], [lo, hi], ls="--", color="#999", lw=1)
    ax.set_xlabel("human score")
    ax.set_ylabel("predicted score")
    ax.set_title("Predicted vs human")
    return png_base64(fig)


def importance_figure(importance) -> str:
    plt = pyplot()

    top = importance[:15][::-1]
    fig, ax = plt.subplots(figsize=(5.2, 0.28 * len(top) + 1.2))
    ax.barh([n for n, _ in top], [v for _, v in top], color="#4a7ab5")
    ax.set_xlabel("increase in mean absolute grade error when shuffled")
    ax.set_title("Signals that mattered")
    return png_base64(fig)


def _metrics_table(systems: dict) -> str:
    names = list(systems)
    head = "".join(f"<th>{html.escape(SYSTEM_NAMES.get(n, n))}</th>" for n in names)
    rows = []
    for m in METRIC_ORDER:
        if all(m not in systems[n] for n in names):
            continue
        rows.append(f'<tr><td class="l">{m}</td>' + "".join(f"<td>{_fmt(systems[n].get(m))}</td>" for n in names) + "</tr>")
    n = next(iter(systems.values())).get("n")
    return f'<table><tr><th class="l">metric (n={n})</th>{head}</tr>{"".join(rows)}</table>'


def _question_table(rows: list[dict], limit: int = 80) -> str:
    out = ['<table><tr><th class="l">question</th><th>n</th><th>human mean</th><th>predicted mean</th>'
           "<th>Pearson</th><th>MAE</th></tr>"]
    for r in sorted(rows, key=lambda r: -r["mae"])[:limit]:
        text = r["question"] if len(r["question"]) <= 110 else r["question"][:107] + "..."
        out.append(f'<tr><td class="l">{html.escape(r["question_id"])}: {html.escape(text)}</td><td>{r["n"]}</td>'
                   f'<td>{_fmt(r["gold_mean"])}</td><td>{_fmt(r["pred_mean"])}</td><td>{_fmt(r["pearson"])}</td>'
                   f'<td>{_fmt(r["mae"])}</td></tr>')
    out.append("</table>")
    return "".join(out)


def _concept_table(rows: list[dict]) -> str:
    if not rows:
        return '<p class="note">Too few good and poor answers per question to compare concept hit rates.</p>'
    out = ['<table><tr><th class="l">question</th><th class="l">concept</th><th>matched in good answers</th>'
           "<th>matched in poor answers</th><th>gap</th></tr>"]
    for r in rows:
        out.append(f'<tr><td class="l">{html.escape(r["question_id"])}</td><td class="l">{html.escape(r["concept"])}</td>'
                   f'<td>{r["hit_good"]:.0%} of {r["n_good"]}</td><td>{r["hit_poor"]:.0%} of {r["n_poor"]}</td>'
                   f'<td>{r["gap"]:+.2f}</td></tr>')
    out.append("</table>")
    return "".join(out)


def render(title: str, intro: str, data, systems: dict, probas: dict, shown, per_question, importance=None,
           concepts=None) -> str:
    """One page: metrics next to the baselines, then the figures and tables."""
    proba, t_pred = shown
    lo, hi = data.scheme.user_scale()
    figs = [
        _img(reliability_figure(probas, data.y), "reliability diagram",
             "Confidence of the top label against how often it is right; the diagonal is perfect calibration."),
        _img(confusion_figure(data.y, np.asarray(proba).argmax(axis=1), data.scheme.labels), "confusion matrix",
             "Rows: the human label; columns: the model's most likely label."),
        _img(scatter_figure(lo + np.asarray(t_pred) * (hi - lo), data.gold_on_scale(), (lo, hi)), "score scatter",
             "Each answer's predicted score against the human score."),
    ]
    if importance:
        figs.append(_img(importance_figure(importance), "signal importance",
                         "Permutation importance of each signal for the final model (in-sample)."))
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>", intro,
             "<h2>Agreement with the human grades</h2>", _metrics_table(systems),
             '<p class="note">Pearson, Spearman, RMSE and MAE are on the labels\' scale '
             f"({lo:g} to {hi:g}); QWK, accuracy, macro-F1, ECE and Brier are over the classes "
             f"{html.escape(', '.join(data.scheme.labels))}.</p>",
             "<h2>Figures</h2>", f'<div class="figs">{"".join(figs)}</div>',
             "<h2>Rubric concepts that mattered</h2>",
             '<p class="note">How often each rubric concept is matched in good answers (grade at least 75% of '
             "the scale) and in poor ones (below 50%); the largest gaps first.</p>", _concept_table(concepts or []),
             "<h2>Agreement per question</h2>", '<p class="note">Worst mean absolute error first.</p>',
             _question_table(per_question), "</body></html>"]
    return "\n".join(parts)


def write_calibration_report(run, path) -> Path:
    data = run.data
    if run.cv is not None:
        systems = run.cv.systems
        probas = {name: p for name, (p, _) in run.cv.oof.items() if name != "cosine"}
        how = (f"{run.cv.folds}-fold cross-validation grouped by {html.escape(data.group_by)} "
               "(every figure below is on held-out folds; the answer memory of each fold is built from its "
               "training part only)")
    else:
        systems = {"calibrated": run.in_sample}
        probas = {"calibrated": run.predictions[0]}
        how = "no cross-validation (--cv 1): figures are in-sample and optimistic"
    intro = (f"<p>Calibrated on <b>{html.escape(Path(data.source).name)}</b>: {len(data)} answers to "
             f"{len(set(data.keys))} questions (sha256 {data.sha256[:12]}...). Labels: "
             f"{html.escape(', '.join(data.scheme.labels))}"
             + (f" (scores {data.scheme.scale[0]:g} to {data.scheme.scale[1]:g} binned)" if data.scheme.scale else "")
             + f". Evaluation: {how}.</p>")
    text = render("Calibration report", intro, data, systems, probas, run.predictions, run.per_question,
                  run.importance, run.concepts)
    return write_atomically(path, text)


def write_eval_report(data, metrics, proba, t_pred, per_question, concepts, model_name, path) -> Path:
    intro = (f"<p>Model <b>{html.escape(model_name)}</b> on <b>{html.escape(Path(data.source).name)}</b>: "
             f"{len(data)} answers to {len(set(data.keys))} questions; no training.</p>")
    text = render("Evaluation report", intro, data, {"model": metrics}, {"model": proba}, (proba, t_pred),
                  per_question, None, concepts)
    return write_atomically(path, text)
