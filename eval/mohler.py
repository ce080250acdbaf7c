"""Benchmark on the Mohler et al. (2011) short-answer data set (computer science, scores 0-5).

Reads ../shared/data/mohler/mohler.csv (never copied into the repo) and writes
eval/results/benchmark_mohler.json with:

* zero-shot: the bundled default model's score (x5) against score_avg (since the tenth session
  the bundled model is trained on Mohler answers, so this figure is no longer zero-shot but
  in-sample; the held-out one is eval/loso.py's, Mohler held out), a plain cosine
  (answer vs desired answer, MiniLM embedding) and a TF-IDF cosine; nothing is trained on Mohler
  (Pearson/Spearman are the fair figures; RMSE/MAE take score*5 at face value);
* unseen questions: 12-fold cross-validation grouped by assignment (the part of `id` before the
  dot), the published protocol; the answer memory cannot help here by construction;
* unseen answers: 12-fold stratified cross-validation over answers, memory from the training folds.

Each protocol runs `grader calibrate`'s own code (grader.calibration.cross_validate) for several
variants (estimator, answer memory, cohort signals, embedding backend). The same numbers come from
the CLI, e.g. for the best variant:

    grader calibrate ../shared/data/mohler/mohler.csv -o /tmp/mohler-model --scale 0:5 \\
        --answer-column student_answer --reference-column desired_answer --score-column score_avg \\
        --group-column id --group-regex '^(\\d+)\\.' --cv 12 \\
        --estimator ridge --cohort --no-memory --embedder all-minilm-l6-torch
    grader calibrate ... --group-by answer --cv 12

Variants with cohort signals are also scored as if each answer were graded alone ("lone"): the
same fold models, with the cohort signals missing.

Run:  HF_HUB_OFFLINE=1 .venv/bin/python eval/mohler.py [--variants boosting+memory] [--cache /tmp/mohler.npz]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.workflows.calibration.fitting import (Options, all_metrics, cross_validate, data_cohort,  # noqa: E402
                                                  featurize_data, fit_model, grade_to_proba, make_folds, predict,
                                                  project_proba)
from grader.workflows.calibration.labels import load_labelled  # noqa: E402
from grader.workflows.calibration.run import for_embedder  # noqa: E402
from grader.workflows.rows import ColumnMap  # noqa: E402
from grader.signals.features import FEATURES  # noqa: E402
from grader.grading import Grader  # noqa: E402
from grader.model.metrics import regression_metrics  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "mohler" / "mohler.csv"
RESULTS = ROOT / "eval" / "results" / "benchmark_mohler.json"
COLUMNS = ColumnMap(answer="student_answer", question_id="question_id", question="question", reference="desired_answer")
PUBLISHED = {"mohler2011_pearson": 0.518, "sultan2016_pearson": 0.592, "sultan2016_rmse": 0.887,
             "human_agreement_pearson": 0.597}
L6 = "all-minilm-l6-torch"
VARIANTS = {
    "boosting+memory": Options(estimator="boosting", memory=True),
    "boosting": Options(estimator="boosting", memory=False),
    "logistic+memory": Options(estimator="logistic", memory=True),
    "logistic": Options(estimator="logistic", memory=False),
    "ridge": Options(estimator="ridge", memory=False),
    "ridge+cohort": Options(estimator="ridge", memory=False, cohort=True),
    "L6 ridge": Options(estimator="ridge", memory=False, embedder=L6),
    "L6 ridge+cohort": Options(estimator="ridge", memory=False, cohort=True, embedder=L6),
    "L6 ridge+cohort+memory": Options(estimator="ridge", memory=True, cohort=True, embedder=L6),
}


def tfidf_cosine(answers, references) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit(list(answers) + list(set(references)))
    a, r = vec.transform(answers), vec.transform(references)
    return np.asarray(a.multiply(r).sum(axis=1)).ravel()


def lone_answers(d, X, emb, cohort, opts, folds) -> dict:
    """Metrics of the cohort variant's fold models when each answer is graded alone (no cohort)."""
    n, K = len(d), d.scheme.k
    proba, t = np.zeros((n, K)), np.zeros(n)
    missing = np.full_like(cohort, np.nan)
    for train, test in make_folds(d.groups, folds, d.y):
        model = fit_model(d, X, emb, train, opts, cohort)
        proba[test], t[test] = predict(model, d, X, emb, train, test, missing)
    return all_metrics(proba, t, d)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", help=f"Comma-separated subset of {', '.join(VARIANTS)}.")
    ap.add_argument("--folds", type=int, default=12)
    ap.add_argument("--out", help="Results file (default: eval/results/benchmark_mohler.json, or benchmark_mohler_partial.json with --variants).")
    ap.add_argument("--cache", help="Keep the signals in this .npz between runs (outside the repo, e.g. /tmp).")
    args = ap.parse_args()
    if not DATA.exists():
        print(f"skipped: {DATA} not found", file=sys.stderr)
        return 0
    t0 = time.time()
    grader = Grader.from_paths()
    by_assignment = load_labelled(grader, str(DATA), COLUMNS, scale=(0, 5), score_column="score_avg",
                                  group_by="column", group_column="id", group_regex=r"^(\d+)\.")
    by_answer = replace(by_assignment, groups=np.array([f"row{i}" for i in range(len(by_assignment))]),
                        group_by="answer")
    signals = {}

    def signals_of(embedder: str | None):
        """(X, answer vectors, cohort signals) from one embedding backend, computed once."""
        own = for_embedder(grader, embedder)
        name = own.embedder.name
        if name not in signals:
            cache = Path(f"{args.cache}.{name}.npz") if args.cache else None
            if cache and cache.exists():
                z = np.load(cache)
                X_, emb_ = z["X"], z["emb"]
            else:
                t1 = time.time()
                X_, _, emb_ = featurize_data(own, by_assignment)
                featurize_seconds[name] = round(time.time() - t1, 1)
                if cache:
                    np.savez(cache, X=X_, emb=emb_)
            signals[name] = (X_, emb_, data_cohort(by_assignment, X_, emb_))
        return signals[name]

    featurize_seconds = {}
    X, emb, _ = signals_of(None)
    data = by_assignment
    gold = data.gold_on_scale()

    # --- zero-shot ---------------------------------------------------------------------------
    proba = grader.model.predict_proba(X)
    t_default = grader.model.predict_grade(X, proba)
    cos = X[:, FEATURES.index("cos_max")]
    refs = [q.references[0].text for q in data.questions]
    tfidf = tfidf_cosine(data.answers, refs)
    zero_shot = {
        "default_model": all_metrics(project_proba(proba, data.scheme.k), t_default, data),
        "cosine": {**regression_metrics(np.clip(cos, 0, 1) * 5, gold)},
        "tfidf_cosine": {**regression_metrics(np.clip(tfidf, 0, 1) * 5, gold)},
    }

    results = {"data": "../shared/data/mohler/mohler.csv", "rows": len(data), "questions": len(set(data.keys)),
               "assignments": len(set(data.groups.tolist())), "embedder": grader.embedder.name,
               "label_scheme": data.scheme.to_dict(), "published": PUBLISHED, "zero_shot": zero_shot,
               "featurize_seconds": featurize_seconds}
    variants = {k: VARIANTS[k] for k in args.variants.split(",")} if args.variants else VARIANTS
    for name, d in (("unseen_questions_by_assignment", by_assignment), ("unseen_answers", by_answer)):
        proto = {"folds": args.folds, "group_by": d.group_by, "variants": {}}
        for vname, opts in variants.items():
            t1 = time.time()
            Xv, embv, cohort = signals_of(opts.embedder)
            cv = cross_validate(d, Xv, embv, grader.model, args.folds, opts, cohort=cohort, X_default=X,
                                progress=lambda _: print(".", end="", file=sys.stderr, flush=True))
            proto["variants"][vname] = {"calibrated": cv.systems["calibrated"], "seconds": round(time.time() - t1, 1)}
            if opts.cohort:
                proto["variants"][vname]["lone"] = lone_answers(d, Xv, embv, cohort, opts, args.folds)
            proto["default_model"] = cv.systems["default"]
            proto["cosine_linear_fit"] = cv.systems["cosine"]
            print(f"{name:32s} {vname:16s} pearson {cv.systems['calibrated']['pearson']:.3f} "
                  f"rmse {cv.systems['calibrated']['rmse']:.3f}  (cosine {cv.systems['cosine']['pearson']:.3f} / "
                  f"{cv.systems['cosine']['rmse']:.3f})", file=sys.stderr)
        # TF-IDF cosine with a linear fit on each training fold, same folds
        t_tf = np.zeros(len(d))
        for train, test in make_folds(d.groups, args.folds, d.y):
            A = np.vstack([tfidf[train], np.ones(len(train))]).T
            a, b = np.linalg.lstsq(A, d.t[train], rcond=None)[0]
            t_tf[test] = np.clip(a * tfidf[test] + b, 0, 1)
        proto["tfidf_cosine_linear_fit"] = all_metrics(grade_to_proba(t_tf, d.scheme.k), t_tf, d)
        results[name] = proto
    results["seconds"] = round(time.time() - t0, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else (RESULTS if not args.variants else RESULTS.with_name("benchmark_mohler_partial.json"))
    out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    print(json.dumps({k: results[k] for k in ("zero_shot",)}, indent=1))
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
