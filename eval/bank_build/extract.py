#!/usr/bin/env python3
"""Parse the five seed documents into a first-draft list of (question, answer) items.

Output: eval/bank_build/draft_items.json, one record per reference-bearing answer:
  {file, number, question (None when lost), answer (auto-cleaned text), table_level?, ...}
plus the 003 question table (rows 6-50) under "table".

This is only the FIRST DRAFT step.  build.py then applies the curated metadata
(meta.py: reconstructed questions, topics, levels, merges) and the hand text fixes
(fixes.py) and writes questions/*.yaml.  After that the YAML files are the source
of truth (they may be hand-edited further); re-running the pipeline overwrites them.
"""
import json
import re
import sys
from pathlib import Path

SEEDS = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/seeds")
OUT = Path(__file__).with_name("draft_items.json")

F000 = "000_df905a8a8cf0025f.txt"
F001 = "001_c25c875d97c1ea47.txt"
F002 = "002_24f93a4f6d76b7df.txt"
F003 = "003_b0cf2ebfb7c74b96.txt"
F004 = "004_f3433d39ae6a16b7.txt"


def norm_ws(text):
    lines = [re.sub(r"[ \t]+", " ", ln).strip() for ln in text.split("\n")]
    return "\n".join(ln for ln in lines if ln)


def parse_000():
    lines = (SEEDS / F000).read_text(encoding="utf-8").split("\n")
    items, cur, pending_q = [], None, None
    for ln in lines:
        m = re.match(r"^(\d+)\.\s+(.*\?)\s*$", ln)
        if ln.strip() == "Answer:":
            if cur:
                items.append(cur)
            cur = {"file": F000, "number": len(items) + 1, "question": pending_q, "lines": []}
            pending_q = None
        elif m and cur is not None:
            # a surviving question line belongs to the NEXT answer block
            pending_q = m.group(2).strip()
        elif cur is not None:
            cur["lines"].append(ln)
    items.append(cur)
    for it in items:
        it["answer"] = norm_ws("\n".join(it.pop("lines")))
    assert len(items) == 100, len(items)
    return items


def title_to_sentence(q):
    """'Can You Explain The Concept Of CNN' -> 'Can you explain the concept of CNN'."""
    words = q.split(" ")
    out = []
    for i, w in enumerate(words):
        core = re.sub(r"[^A-Za-z]", "", w)
        if i == 0 or (core.isupper() and len(core) > 1) or re.match(r"^\(?[A-Z]+s\)?", w) and core[:-1].isupper() and len(core) > 2:
            out.append(w)
        else:
            out.append(w.lower())
    return " ".join(out)


def parse_001():
    text = (SEEDS / F001).read_text(encoding="utf-8")
    body = text.split("\nConclusion\n")[0]
    parts = re.split(r"^(\d+)\.\s+(.+\?)\s*$", body, flags=re.M)
    items = []
    for i in range(1, len(parts), 3):
        items.append({"file": F001, "number": int(parts[i]),
                      "question_raw": parts[i + 1].strip(),
                      "question": title_to_sentence(parts[i + 1].strip()),
                      "answer": norm_ws(parts[i + 2])})
    assert [it["number"] for it in items] == list(range(1, 26))
    return items


def parse_002():
    lines = [ln.strip() for ln in (SEEDS / F002).read_text(encoding="utf-8").split("\n")]
    start = lines.index("1")
    lines = [ln for ln in lines[start:] if ln]
    items = []
    for i in range(0, len(lines), 3):
        num, q, a = lines[i:i + 3]
        items.append({"file": F002, "number": int(num), "question": q, "answer": a})
    assert [it["number"] for it in items] == list(range(1, 101))
    return items


def clean_md(text):
    text = re.sub(r"\*\*\s*([^*]+?)\s*\*\*", r"\1", text)
    text = text.replace("**", "")
    return text


def parse_003():
    text = (SEEDS / F003).read_text(encoding="utf-8")
    blocks = re.split(r"^\*\*(\d)\)\*\*,?\s*", text, flags=re.M)
    items = []
    for i in range(1, len(blocks), 2):
        num, blk = int(blocks[i]), blocks[i + 1]
        blk = blk.split("\n---")[0]
        head = re.search(r"\*\*Topic:\*\*\s*([^,]+),\s*\*\*Level:\*\*\s*(\w+)", blk)
        q = re.search(r"\*\*Q:\*\*\s*(.+)", blk).group(1).strip().rstrip("|").strip()
        simple = blk.split("**Simple:**")[1].split("**Detailed:**")[0]
        detailed = blk.split("**Detailed:**")[1]
        det = clean_md(detailed)
        det = re.sub(r"^\s*\d+\.\s+", "- ", det, flags=re.M)
        items.append({"file": F003, "number": num, "question": q,
                      "topic_src": head.group(1).strip(), "level_src": head.group(2).strip().lower(),
                      "answer": norm_ws(det), "simple": norm_ws(simple)})
    table = []
    for ln in text.split("\n"):
        m = re.match(r"^\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|\s*(\w+)\s*\|\s*(.+?)\s*\|\s*$", ln)
        if m:
            table.append({"no": int(m.group(1)), "topic_src": m.group(2), "level_src": m.group(3).lower(),
                          "question": m.group(4)})
    assert len(items) == 5
    return items, table


def fix_sub(text):
    text = text.replace("Ã—", "×")
    text = re.sub(r"\s*_\{([^}]*)\}", r"_\1", text)      # h_{t-1} -> h_t-1
    text = re.sub(r"\^\{([^}]*)\}", r"^\1", text)
    return text


def split_labels(par):
    """004 pages put a bold label AFTER the paragraph it names: 'text**Label:**text2**Label2:**'.
    Return '- Label: text' lines when the paragraph ends with a label; otherwise strip bold."""
    if not re.search(r"\*\*[^*]+\*\*\s*:?\s*$", par) or par.lstrip().startswith("**"):
        return clean_md(par)
    segs = re.split(r"\*\*\s*([^*]+?)\s*\*\*", par)
    # segs = [text0, label0, text1, label1, ..., textN(empty)]
    out = []
    for j in range(0, len(segs) - 1, 2):
        body = segs[j].strip().lstrip(":").strip()
        label = segs[j + 1].strip().rstrip(":").strip()
        out.append(f"- {label}: {body}")
    return "\n".join(out)


def parse_004():
    text = (SEEDS / F004).read_text(encoding="utf-8")
    body = text.split("\n## Conclusion")[0]
    parts = re.split(r"^### (\d+)\.\s+(.+)$", body, flags=re.M)
    items = []
    for i in range(1, len(parts), 3):
        raw = parts[i + 2].replace("\n## Deep Learning Interview Questions For Experienced", "")
        raw = fix_sub(raw)
        raw = re.sub(r"```\w*", "", raw)
        paras = [p for p in re.split(r"\n\s*\n", raw) if p.strip()]
        ans = "\n".join(split_labels(p) for p in paras)
        items.append({"file": F004, "number": int(parts[i]), "question": parts[i + 1].strip(),
                      "answer": norm_ws(ans)})
    assert [it["number"] for it in items] == list(range(1, 57))
    return items


def main():
    i000 = parse_000()
    i001 = parse_001()
    i002 = parse_002()
    i003, table = parse_003()
    i004 = parse_004()
    data = {"items": i000 + i001 + i002 + i003 + i004, "table003": table}
    OUT.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {OUT}: {len(data['items'])} items, {len(table)} table rows")


if __name__ == "__main__":
    main()
