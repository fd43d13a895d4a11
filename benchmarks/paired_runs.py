"""Two run folders of the same episodes, paired: ``python benchmarks/paired_runs.py A B`` prints
A − B (mean ± std of the per-episode OA difference, A ahead n/N, paired t-test p) on the headline
OA and on prototype-only OA, and each run's drift from the frozen model (the runs' ``drift``
record: cosine and 10-NN overlap after phase 1 and, averaged over episodes, after the support-only
phase and the intermediate domain), as Markdown."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mifomo_lite.train.ablation_table import PAIRED_METRICS, paired_runs


def _drift_cells(m: dict) -> str:
    d = m.get("drift") or {}
    p1 = (d.get("phases") or {}).get("after_phase1") or {}
    means = d.get("episode_means") or {}
    cells = [p1.get("cosine"), p1.get("knn_overlap")]
    for stage in ("after_support", "after_intermediate"):
        cells += [means.get(stage, {}).get("cosine"), means.get(stage, {}).get("knn_overlap")]
    return " | ".join("—" if c is None else f"{c:.4f}" for c in cells)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    args = ap.parse_args()
    ma, mb = (json.loads((f / "metrics.json").read_text()) for f in (args.a, args.b))
    paired = paired_runs(ma, mb)
    print(f"| {args.a.name} − {args.b.name} | mean ± std (points) | {args.a.name} ahead | p |\n|---|---|---|---|")
    for metric, what in PAIRED_METRICS.items():
        p = paired[metric]
        pval = "—" if p is None or p["p"] is None else f"{p['p']:.2g}"
        print(f"| {what} | {p['mean']:+.2f} ± {p['std']:.2f} | {p['wins']}/{p['n']} | {pval} |")
    print("\n| run | headline OA | prototype-only OA | cos after phase 1 | 10-NN after phase 1 | cos after support "
          "| 10-NN after support | cos after intermediate | 10-NN after intermediate |\n|---|---|---|---|---|---|---|---|---|")
    for f, m in ((args.a, ma), (args.b, mb)):
        s = m["summary"]
        head = s.get("final/propagated") or s["final/plain"]
        print(f"| {f.name} | {head['OA']['mean']:.2f} ± {head['OA']['std']:.2f} | "
              f"{s['final/plain']['OA']['mean']:.2f} ± {s['final/plain']['OA']['std']:.2f} | {_drift_cells(m)} |")


if __name__ == "__main__":
    main()
