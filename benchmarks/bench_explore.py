"""Explorer redraw times: how long one slider move takes in each notebook explorer, on a CPU.

A redraw is what the widget does when a slider moves: the computation on cached embeddings
(:mod:`mifomo_lite.explore`) plus drawing the figure onto an Agg canvas. The embeddings have the
size of an Indian Pines 5-shot test episode — 16 classes with Indian Pines' class counts (10,249
labelled pixels), 80 support pixels, 10,169 queries, 128-d embeddings (the ``tiny`` model's
width) — drawn as seeded Gaussian clusters, since the redraw time depends on the sizes only; the
λ scheduler runs on 150 source and 150 target embeddings with 10 mixes per step (the kit's
``intermediate_mixups``), as in notebook 04's ``lite`` profile.
Each figure is the median of ``--repeat`` redraws (≥ 5) after one warm-up; the goal is < 1 s.

    python benchmarks/bench_explore.py [--repeat 5] [--threads 1] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

INDIAN_PINES_COUNTS = (46, 1428, 830, 237, 483, 730, 28, 478, 20, 972, 2455, 593, 205, 1265, 386, 93)
GOAL_S = 1.0


def episode(dim: int = 128, shots: int = 5, seed: int = 0):
    """Embeddings of an Indian-Pines-sized episode: (emb, y) of all labelled pixels and the
    5-shot split (support, support labels, queries, query labels)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(INDIAN_PINES_COUNTS), dim))
    y = np.repeat(np.arange(len(INDIAN_PINES_COUNTS)), INDIAN_PINES_COUNTS)
    emb = (0.25 * centres[y] + rng.normal(size=(len(y), dim))).astype(np.float32)
    sup = np.concatenate([np.flatnonzero(y == c)[:shots] for c in range(len(INDIAN_PINES_COUNTS))])
    mask = np.ones(len(y), bool)
    mask[sup] = False
    return emb, y, (emb[sup], y[sup], emb[mask], y[mask])


def redraws(dim: int = 128) -> Dict[str, Callable[[], Any]]:
    """One callable per explorer: compute on the cached embeddings, draw, render, close."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from mifomo_lite import explore as ex

    emb, y, (s, sy, q, qy) = episode(dim)
    rng = np.random.default_rng(1)
    e_s, e_t = emb[rng.choice(len(emb), 150, replace=False)], emb[rng.choice(len(emb), 150, replace=False)] + 0.5

    def render(draw):
        fig = plt.figure(figsize=(10, 3.6))
        draw(fig)
        fig.canvas.draw()
        plt.close(fig)

    return {
        "propagation σ/α (05)": lambda: render(lambda f: ex.draw_propagation(
            f, ex.propagation_view(s, sy, q, qy, sigma=0.5, alpha=0.9))),
        "λ scheduler, 60 steps of 10 mixes (04)": lambda: render(lambda f: ex.draw_lambda(
            f, ex.lambda_trajectory(e_s, e_t, n_steps=60, n_mix=10))),
        "learning rate, 40 steps (03)": lambda: render(lambda f: ex.draw_lr(
            f, ex.lr_curve(s, sy, q, qy, lr=1e-2, steps=40))),
        "shots, k ≤ 20, 5 draws, with propagation (03)": lambda: render(lambda f: ex.draw_shots(
            f, ex.shots_view(emb, y, shots=5, max_shots=19, n_draws=5, propagate=True))),
    }


def figures(repeat: int = 5, dim: int = 128) -> List[Dict[str, Any]]:
    import torch

    from mifomo_tools.bench import measure

    out = []
    for name, fn in redraws(dim).items():
        t = measure(fn, warmup=1, repeat=repeat)
        out.append({"name": f"explorer redraw: {name}", "value": round(t["median_s"], 4), "unit": "s",
                    "how": (f"median of {t['n']} redraws after {t['warmup']} warm-up: compute on cached "
                            f"{dim}-d embeddings of an Indian Pines 5-shot episode (80 support, 10,169 "
                            f"queries) + Agg render; {torch.get_num_threads()} torch thread(s)"),
                    "goal": f"< {GOAL_S:g} s per redraw on a CPU (issue 17)", "met": t["median_s"] < GOAL_S,
                    "details": {"q1_s": t["q1_s"], "q3_s": t["q3_s"], "samples_s": t["samples_s"]}})
    return out


def run(quick: bool = False) -> List[Dict[str, Any]]:
    """Entry point of ``mifomo-lite bench``: five redraws of each explorer (both modes)."""
    return figures(repeat=5)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed redraws per explorer (≥ 5)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a laptop core)")
    ap.add_argument("--dim", type=int, default=128, help="embedding width")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    args = ap.parse_args(argv)
    if args.repeat < 5:
        ap.error("--repeat must be ≥ 5")
    import torch

    from mifomo_tools.bench import check_figures, machine_info

    torch.set_num_threads(args.threads)
    result = {"benchmark": "explore", "machine": machine_info(),
              "figures": check_figures(figures(args.repeat, args.dim), "bench_explore.py")}
    text = json.dumps(result, indent=2, ensure_ascii=False)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".part")
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(args.out)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
