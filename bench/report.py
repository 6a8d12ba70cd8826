#!/usr/bin/env python3
"""Markdown table of benchmark records (JSON lines): one row per case, one column per engine,
and nfield's ratio to the best peer.

Usage: python3 bench/report.py bench/results/FILE.jsonl [...]
"""
import json, sys
from collections import OrderedDict

rows = OrderedDict()
engines = []
for path in sys.argv[1:]:
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            rows.setdefault(r["name"], {})[r["engine"]] = r
            if r["engine"] not in engines:
                engines.append(r["engine"])

ours = [e for e in engines if e.startswith("nfield")]
peers = [e for e in engines if not e.startswith("nfield")]


def cell(r):
    if r is None:
        return "—"
    v = f"{r['samples_per_s'] / 1e3:,.0f} k/s"
    if "ms_per_step" in r:
        v += f" ({r['ms_per_step']:.1f} ms/step)"
    elif "ms_per_image" in r:
        v += f" ({r['ms_per_image']:.1f} ms)"
    return v


print("| case | " + " | ".join(ours + peers) + " | nfield ÷ best peer |")
print("|---" * (len(ours) + len(peers) + 2) + "|")
for name, by in rows.items():
    best_peer = max((by[p]["samples_per_s"] for p in peers if p in by), default=None)
    best_ours = max((by[o]["samples_per_s"] for o in ours if o in by), default=None)
    ratio = f"{best_ours / best_peer:.2f}×" if best_peer and best_ours else "—"
    print(f"| `{name}` | " + " | ".join(cell(by.get(e)) for e in ours + peers) + f" | {ratio} |")
