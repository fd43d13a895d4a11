"""Tune the kit's evaluation-time extensions on a held-out scene, then confirm once on Indian Pines.

The ``lite`` preset's extensions — the embedding smoothing window (``feature_smoothing``), the
k-NN graph of the final propagation (``graph_k``, ``graph_alpha``, ``graph_sigma_scale``) and
class mass normalisation (``propagation_class_mass``) — and two scene-pool ideas implemented only
here (``score_smoothing``: a window mean of the propagated scores over the image; ``spatial_edges``:
8-neighbour image edges added to the k-NN graph; ``second_round``: a second propagation seeded with
the first one's most confident nodes) act after the encoder, so they can be
swept on cached embeddings: each scene is embedded once by the **frozen** micro foundation model
(pretrained weights, the lite preset's PCA, patch and window-mean readout; no phase 0 and no
per-episode adaptation — the tuning encoder), and every grid point re-reads those embeddings.

Validation scene: Salinas-A (``/work/shared/data/salinas_a`` or ``--salinas-root``), 5-shot
episodes, seeds ``--seeds``, both node pools (``labelled``: support + ground-truth-labelled
pixels; ``scene``: every pixel). Indian Pines is never looked at while choosing: the chosen
values (best mean OA per pool on Salinas-A) are evaluated once on Indian Pines seeds 0–9 next to
the current lite defaults, with the paired difference, its std and a two-sided paired t-test.

The propagation is the one of :func:`mifomo_lite.fsl.propagation_baseline` (z-scored features,
symmetrised k-NN RBF graph, exact sparse LU solve, optional class mass normalisation), written
so that one factorisation serves every seed of a pool: the node set of a pool does not depend
on the episode (support + queries = all labelled pixels, or all pixels), only the label matrix
does. :func:`check_against_library` asserts that this gives the library's predictions.

Run (2 cores, about 10 min the first time, the embeddings are cached in ``--cache``)::

    PYTHONPATH=$PWD python benchmarks/tune_extensions.py --out benchmarks/tune_extensions.json

The package never imports this file.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mifomo_lite import __version__, data as D, fsl
from mifomo_lite.fsl.propagation import knn_affinity
from mifomo_lite.train.config import RunConfig
from mifomo_lite.train.domains import _domain
from mifomo_lite.train.embedding import embed
from mifomo_lite.train.model import build_model
from mifomo_lite.train.presets import preset

# The grid swept on the validation scene (the lite defaults are one of its points).
GRID = dict(feature_smoothing=(1, 3, 5, 7, 9, 11), graph_k=(5, 10, 20, 40), graph_alpha=(0.9, 0.99, 0.999),
            graph_sigma_scale=(0.5, 1.0, 2.0), propagation_class_mass=("none", "estimated"),
            score_smoothing=(1, 3, 5, 7))
POOLS = ("labelled", "scene")


def lite_defaults() -> dict:
    """The current lite preset's values of the swept knobs (``score_smoothing`` 1 = off)."""
    cfg = preset("lite")
    return dict(feature_smoothing=cfg.feature_smoothing, graph_k=getattr(cfg, "graph_k", 10),
                graph_alpha=getattr(cfg, "graph_alpha", 0.99), graph_sigma_scale=getattr(cfg, "graph_sigma_scale", 1.0),
                propagation_class_mass=cfg.propagation_class_mass, score_smoothing=getattr(cfg, "score_smoothing", 1))


def embed_scene(scene, cache: Path) -> np.ndarray:
    """``(H, W, D)`` raw embeddings of every pixel of ``scene`` by the frozen micro model with the
    lite preset's input settings; cached as ``cache`` (an ``.npz``)."""
    if cache.exists():
        return np.load(cache)["emb"]
    cfg = preset("lite", target_ssl_steps=0, progress=False)
    torch.manual_seed(0)
    dom = _domain(scene, cfg)
    model = build_model(cfg, torch.device("cpu"))
    h, w = dom.prepared.height, dom.prepared.width
    rows, cols = np.divmod(np.arange(h * w), w)
    emb = embed(model, dom.prepared, rows, cols, cfg, torch.device("cpu")).numpy().reshape(h, w, -1)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, emb=emb)
    os.replace(tmp, cache)
    return emb


def smooth(emb: np.ndarray, size: int) -> np.ndarray:
    return fsl.smooth_feature_map(torch.from_numpy(emb), size).numpy()


def episodes(scene, seeds) -> list:
    return [D.few_shot_split(scene, n_shot=5, seed=int(s)) for s in seeds]


def pool_nodes(labels: np.ndarray, pool: str):
    """Rows and columns of a pool's nodes (raster order) and an ``(H, W)`` map of their positions."""
    keep = labels > 0 if pool == "labelled" else np.ones(labels.shape, dtype=bool)
    rows, cols = np.nonzero(keep)
    pos = np.full(labels.shape, -1, dtype=np.int64)
    pos[rows, cols] = np.arange(rows.size)
    return rows, cols, pos


class Neighbours:
    """The ``max(GRID graph_k)`` nearest neighbours of every node of z-scored features, computed
    once; :meth:`graph` slices them for a smaller ``k`` (as :func:`knn_affinity` would find them)."""

    def __init__(self, x: np.ndarray, k_max: int):
        from sklearn.neighbors import NearestNeighbors

        x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-12)   # propagation_baseline's standardisation
        dist, idx = NearestNeighbors(n_neighbors=k_max + 1).fit(x).kneighbors(x)
        self.dist, self.idx, self.n = dist[:, 1:], idx[:, 1:], x.shape[0]

    def graph(self, k: int, sigma_scale: float, spatial=None):
        """``D^-1/2 A D^-1/2`` of the symmetrised k-NN RBF graph, σ = ``sigma_scale`` × the median
        k-NN distance (:func:`knn_affinity` with ``sigma="median"`` at scale 1). ``spatial = (pos,
        beta)``: add an edge of weight ``beta`` between 8-neighbours of the image that are both
        nodes (``pos``: the ``(H, W)`` node positions, -1 elsewhere) — a spatial–spectral graph."""
        from scipy import sparse

        dist, idx = self.dist[:, :k], self.idx[:, :k]
        pos = dist[dist > 0]
        sigma = sigma_scale * (float(np.median(pos)) if pos.size else 1.0)
        w = np.exp(-(dist ** 2) / (2.0 * sigma ** 2))
        a = sparse.csr_matrix((w.ravel(), (np.repeat(np.arange(self.n), k), idx.ravel())), shape=(self.n, self.n))
        a = a.maximum(a.T).tocsr()
        if spatial is not None and spatial[1] > 0:
            a = a + spatial[1] * grid_adjacency(spatial[0])
        a.setdiag(0.0)
        a.eliminate_zeros()
        deg = np.asarray(a.sum(axis=1)).ravel()
        inv = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1e-300)), 0.0)
        return sparse.diags(inv) @ a @ sparse.diags(inv)


def grid_adjacency(pos: np.ndarray):
    """Symmetric 0/1 adjacency of the 8-neighbours of an image among the pixels whose node
    position ``pos`` is ≥ 0."""
    from scipy import sparse

    n, H, W = int(pos.max()) + 1, pos.shape[0], pos.shape[1]
    src, dst = [], []
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = pos[max(0, -dr):H - max(0, dr), max(0, -dc):W - max(0, dc)]
        b = pos[max(0, dr):, max(0, dc):][:a.shape[0], :a.shape[1]] if dc >= 0 else pos[dr:, :W + dc][:a.shape[0]]
        ok = (a >= 0) & (b >= 0)
        src.append(a[ok]), dst.append(b[ok])
    src, dst = np.concatenate(src), np.concatenate(dst)
    g = sparse.csr_matrix((np.ones(src.size), (src, dst)), shape=(n, n))
    return (g + g.T).tocsr()


def label_block(splits, pos: np.ndarray, n: int) -> np.ndarray:
    """``[n, S·C]``: one-hot support rows of every episode side by side (one solve for all)."""
    C = splits[0].n_classes
    y = np.zeros((n, len(splits) * C))
    for e, sp in enumerate(splits):
        y[pos[sp.support_rows, sp.support_cols], e * C + np.asarray(sp.support_labels)] = 1.0
    return y


def episode_predictions(f: np.ndarray, sp, pos: np.ndarray, shape, class_mass: str, score_smoothing: int):
    """Query predictions of one episode from its propagated scores ``f`` (all nodes of the pool):
    the support rows dropped (as the library does), class mass normalised over the other nodes,
    rows normalised to sum 1; ``score_smoothing`` > 1 (scene pool) then averages the score map
    over that window of the image, the support pixels holding their one-hot labels."""
    n, C = f.shape
    is_support = np.zeros(n, dtype=bool)
    is_support[pos[sp.support_rows, sp.support_cols]] = True
    g = np.clip(f, 0.0, None)
    if class_mass == "estimated":
        g = g.copy()
        g[~is_support] = fsl.class_mass_normalisation(g[~is_support])
    g = g / np.maximum(g.sum(1, keepdims=True), 1e-12)
    q = pos[sp.query_rows, sp.query_cols]
    if score_smoothing == 1:
        return g[q].argmax(1)
    g[is_support] = np.eye(C)[np.asarray(sp.support_labels)]
    smap = g.reshape(shape[0], shape[1], C)   # the scene pool holds every pixel in raster order
    smap = fsl.smooth_feature_map(torch.from_numpy(smap), score_smoothing).numpy()
    return smap[sp.query_rows, sp.query_cols].argmax(1)


def second_round(lu, f: np.ndarray, sp, pos: np.ndarray, m: int, class_mass: str) -> np.ndarray:
    """A second propagation on the same graph (``lu``: its factorisation), seeded with the shots
    plus the ``m`` most confident nodes of each predicted class of the first (confidence = the
    class-mass-normalised, row-normalised score)."""
    n, C = f.shape
    sup = np.zeros(n, dtype=bool)
    sup[pos[sp.support_rows, sp.support_cols]] = True
    g = np.clip(f, 0.0, None)
    if class_mass == "estimated":
        g[~sup] = fsl.class_mass_normalisation(g[~sup])
    g = g / np.maximum(g.sum(1, keepdims=True), 1e-12)
    pred, conf = g.argmax(1), np.where(sup, -1.0, g.max(1))
    y = np.zeros((n, C))
    y[pos[sp.support_rows, sp.support_cols], np.asarray(sp.support_labels)] = 1.0
    for c in range(C):
        idx = np.flatnonzero((pred == c) & ~sup)
        y[idx[np.argsort(-conf[idx])[:m]], c] = 1.0
    return lu.solve(y)


def oa(pred, sp) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(sp.query_labels)))


def sweep_pool(emb: np.ndarray, labels: np.ndarray, splits, pool: str, grid: dict, log=print) -> list:
    """OA of every episode at every grid point over ``pool``: ``[{knobs..., "oa": [per seed]}]``."""
    from scipy.sparse import identity
    from scipy.sparse.linalg import splu

    rows, cols, pos = pool_nodes(labels, pool)
    y = label_block(splits, pos, rows.size)
    C, out = splits[0].n_classes, []
    smoothings = grid["score_smoothing"] if pool == "scene" else (1,)
    for w in grid["feature_smoothing"]:
        t0 = time.perf_counter()
        nb = Neighbours(smooth(emb, w)[rows, cols], max(grid["graph_k"]))
        for k, s, a, beta in itertools.product(grid["graph_k"], grid["graph_sigma_scale"], grid["graph_alpha"],
                                               grid.get("spatial_edges", (0.0,))):
            lu = splu((identity(rows.size, format="csc") - a * nb.graph(k, s, (pos, beta))).tocsc())
            f_all = lu.solve(y)
            for cm, ss, m in itertools.product(grid["propagation_class_mass"], smoothings, grid.get("second_round", (0,))):
                fs = [f_all[:, e * C:(e + 1) * C] for e in range(len(splits))]
                if m:
                    fs = [second_round(lu, f, sp, pos, m, cm) for f, sp in zip(fs, splits)]
                accs = [oa(episode_predictions(f, sp, pos, labels.shape, cm, ss), sp) for f, sp in zip(fs, splits)]
                out.append(dict(feature_smoothing=w, graph_k=k, graph_sigma_scale=s, graph_alpha=a,
                                propagation_class_mass=cm, score_smoothing=ss, spatial_edges=beta, second_round=m,
                                oa=accs))
        log(f"  {pool} pool, window {w}: {time.perf_counter() - t0:.1f} s")
    return out


def knobs(row: dict) -> dict:
    return {k: row[k] for k in GRID}


def mean_oa(row: dict) -> float:
    """A grid row's mean OA over the seeds (a stored table holds only the mean)."""
    return float(row["oa_mean"]) if "oa_mean" in row else float(np.mean(row["oa"]))


def best(rows: list) -> dict:
    """The grid point with the highest mean OA (ties: the first in grid order)."""
    return max(rows, key=mean_oa)


def table_record(rows: dict) -> dict:
    """The grid table in a compact columnar form: per pool, one row of knob values, mean and std
    of the OA over the validation seeds."""
    cols = list(GRID) + ["spatial_edges"]
    return {"columns": cols + ["oa_mean", "oa_std"],
            **{p: [[r.get(c, 0.0) for c in cols] + [round(mean_oa(r), 6), round(_std_oa(r), 6)] for r in rs]
               for p, rs in rows.items()}}


def _std_oa(row: dict) -> float:
    return float(row["oa_std"]) if "oa_std" in row else float(np.std(row["oa"], ddof=1))


def table_rows(record: dict) -> dict:
    """:func:`table_record` back to rows (``oa_mean``/``oa_std`` instead of per-seed OAs)."""
    cols = record["columns"]
    return {p: [dict(zip(cols, r)) for r in record[p]] for p in POOLS}


def paired(a, b) -> dict:
    """Paired comparison of per-seed OAs ``b − a``: mean, std, wins and a two-sided t-test p."""
    from scipy import stats

    d = np.asarray(b) - np.asarray(a)
    p = float(stats.ttest_rel(b, a).pvalue) if np.any(d != d[0]) else (0.0 if d[0] != 0 else 1.0)
    return dict(mean=float(d.mean()), std=float(d.std(ddof=1)), wins=int((d > 0).sum()), losses=int((d < 0).sum()),
                p_value=p)


def check_against_library(emb: np.ndarray, labels: np.ndarray, sp, point: dict) -> None:
    """Both pools' predictions of one episode at ``point`` equal the library's
    (:func:`fsl.propagation_baseline` on the same smoothed embeddings, as the pipeline calls it)."""
    x = smooth(emb, point["feature_smoothing"])
    for pool in POOLS:
        rows, cols, pos = pool_nodes(labels, pool)
        one = {**{k: (v,) for k, v in point.items()}, "score_smoothing": (1,)}
        mine = sweep_pool(emb, labels, [sp], pool, one, log=lambda *_: None)[0]["oa"][0]
        nodes = np.ones(rows.size, dtype=bool)
        nodes[pos[sp.support_rows, sp.support_cols]] = False
        lib = fsl.propagation_baseline(x[sp.support_rows, sp.support_cols], sp.support_labels,
                                       x[rows[nodes], cols[nodes]], n_classes=sp.n_classes, alpha=point["graph_alpha"],
                                       k=point["graph_k"], class_mass=point["propagation_class_mass"])
        qpos = np.full(labels.shape, -1)
        qpos[rows[nodes], cols[nodes]] = np.arange(int(nodes.sum()))
        theirs = oa(lib.pred[qpos[sp.query_rows, sp.query_cols]], sp)
        if abs(mine - theirs) > 2e-3:
            raise AssertionError(f"{pool} pool: sweep OA {mine:.4f} but the library gives {theirs:.4f} at {point}")


def joint_choice(rows_by_pool: dict) -> dict:
    """One setting for both pools: the graph knobs with the best mean of the two pools' mean OA
    (without score smoothing), then the scene pool's best ``score_smoothing`` at those knobs."""
    base = [k for k in GRID if k != "score_smoothing"]
    key = lambda r: tuple(r[k] for k in base)   # noqa: E731
    scene = {key(r): r for r in rows_by_pool["scene"] if r["score_smoothing"] == 1}
    lab = max(rows_by_pool["labelled"], key=lambda r: mean_oa(r) + mean_oa(scene[key(r)]))
    cands = [r for r in rows_by_pool["scene"] if key(r) == key(lab)]
    return {**{k: lab[k] for k in base}, "score_smoothing": best(cands)["score_smoothing"]}


def evaluate_points(emb, labels, splits, points: dict) -> dict:
    """``{name: {pool: per-seed OA}}`` of each named setting, both pools (score smoothing only in
    the scene pool; the labelled pool ignores it)."""
    out = {}
    for name, p in points.items():
        out[name] = {}
        for pool in POOLS:
            one = {k: (v,) for k, v in p.items()}
            if pool == "labelled":
                one["score_smoothing"] = (1,)
            out[name][pool] = sweep_pool(emb, labels, splits, pool, one, log=lambda *_: None)[0]["oa"]
    return out


def summary_line(name, accs) -> str:
    return f"{name:>28}: " + "  ".join(f"{p} {100 * np.mean(a):.2f} ± {100 * np.std(a, ddof=1):.2f}"
                                         for p, a in accs.items())


# Ideas for the scene pool, each a change of the lite defaults: judged on Salinas-A's scene pool.
IDEAS = {**{f"score_smoothing={w}": dict(score_smoothing=w) for w in (3, 5, 7, 9)},
         **{f"spatial_edges={b}": dict(spatial_edges=b) for b in (0.1, 0.3, 1.0)},
         **{f"graph_k={k}": dict(graph_k=k) for k in (20, 40)},
         **{f"feature_smoothing={w}": dict(feature_smoothing=w) for w in (7, 9)},
         "score_smoothing=5, spatial_edges=0.3": dict(score_smoothing=5, spatial_edges=0.3),
         **{f"second_round={m}": dict(second_round=m) for m in (10, 50, 200)}}


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/tune_extensions.json"))
    ap.add_argument("--cache", type=Path, default=Path("runs/tune/cache"))
    ap.add_argument("--salinas-root", default=os.environ.get("MIFOMO_SALINAS_ROOT", "../shared/data"))
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(100, 120)),
                    help="validation seeds on Salinas-A (default 100–119)")
    ap.add_argument("--test-seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--reuse-sweep", type=Path, default=None,
                    help="take the Salinas-A grid table from an earlier output of this script (same grid and seeds)")
    return ap.parse_args(argv)


def validation_sweep(args, emb, labels, splits) -> tuple[dict, float]:
    """The Salinas-A grid table per pool (or an earlier one, checked to be the same grid and seeds)."""
    if args.reuse_sweep is not None:
        old = json.loads(args.reuse_sweep.read_text())
        if old["grid"] != {k: list(v) for k, v in GRID.items()} or old["validation"]["seeds"] != args.seeds:
            raise SystemExit(f"{args.reuse_sweep}: another grid or other seeds; run the sweep again")
        table = old["validation_table"]
        return (table_rows(table) if "columns" in table else table), old["timings"]["sweep_s"]
    t0 = time.perf_counter()
    return {pool: sweep_pool(emb, labels, splits, pool, GRID) for pool in POOLS}, time.perf_counter() - t0


def choices(rows: dict, defaults: dict) -> dict:
    """The held-out choices: one setting for both pools (:func:`joint_choice`), the same with the
    lite smoothing window kept, and each pool's own best."""
    at_window = {p: [r for r in rows[p] if r["feature_smoothing"] == defaults["feature_smoothing"]] for p in POOLS}
    return {"joint": joint_choice(rows), "joint_at_lite_window": joint_choice(at_window),
            **{f"best_{p}": knobs(best(rows[p])) for p in POOLS}}


def judge_ideas(val_emb, val_scene, val_splits, defaults) -> tuple[dict, dict]:
    """Each idea's Salinas-A OA (both pools) and its paired difference to the defaults in the
    scene pool; an idea is *selected* when that difference is positive with p < 0.05."""
    points = {name: {**defaults, **change} for name, change in IDEAS.items()}
    res = evaluate_points(val_emb, val_scene.labels, val_splits, {"lite_defaults": defaults, **points})
    verdict = {}
    for name in IDEAS:
        d = paired(res["lite_defaults"]["scene"], res[name]["scene"])
        verdict[name] = {**d, "selected": bool(d["mean"] > 0 and d["p_value"] < 0.05)}
    return res, verdict


def diagnose_scene_pool(emb, labels, splits, defaults: dict) -> dict:
    """Where the scene pool loses against the labelled pool at the lite defaults: per-class recall
    in both pools, and OA by the share of unlabelled pixels among a query's k nearest neighbours."""
    from scipy.sparse import identity
    from scipy.sparse.linalg import splu

    C, k, preds, share = splits[0].n_classes, defaults["graph_k"], {}, None
    x = smooth(emb, defaults["feature_smoothing"])
    for pool in POOLS:
        rows, cols, pos = pool_nodes(labels, pool)
        nb = Neighbours(x[rows, cols], k)
        f = splu((identity(rows.size, format="csc") - defaults["graph_alpha"] * nb.graph(k, defaults["graph_sigma_scale"]))
                 .tocsc()).solve(label_block(splits, pos, rows.size))
        preds[pool] = [episode_predictions(f[:, e * C:(e + 1) * C], sp, pos, labels.shape,
                                           defaults["propagation_class_mass"], 1) for e, sp in enumerate(splits)]
        if pool == "scene":
            share = (labels[rows, cols] == 0)[nb.idx].mean(1)
            share = np.concatenate([share[pos[sp.query_rows, sp.query_cols]] for sp in splits])
    y = [np.asarray(sp.query_labels) for sp in splits]
    ok = {p: np.concatenate([pr == t for pr, t in zip(preds[p], y)]) for p in POOLS}
    recall = {p: [float(np.mean([np.mean(pr[t == c] == c) for pr, t in zip(preds[p], y)])) for c in range(C)]
              for p in POOLS}
    bins = [(0.0, 0.1), (0.1, 0.3), (0.3, 0.6), (0.6, 1.01)]
    by_share = [dict(share=[lo, hi], fraction_of_queries=float(((share >= lo) & (share < hi)).mean()),
                     **{f"oa_{p}": float(ok[p][(share >= lo) & (share < hi)].mean()) for p in POOLS}) for lo, hi in bins]
    return dict(unlabelled_share_of_scene=float((labels == 0).mean()), per_class_recall=recall,
                by_unlabelled_neighbour_share=by_share,
                scene_errors_right_in_labelled_pool=float(ok["labelled"][~ok["scene"]].mean()))


def main(argv=None) -> dict:
    args = parse(argv)
    t_start = time.perf_counter()
    val_scene = D.load_scene("salinas_a", root=args.salinas_root, progress=False)
    test_scene = D.load_scene("indian_pines", progress=False)
    val_emb = embed_scene(val_scene, args.cache / "salinas_a.npz")
    test_emb = embed_scene(test_scene, args.cache / "indian_pines.npz")
    val_splits, test_splits = episodes(val_scene, args.seeds), episodes(test_scene, args.test_seeds)
    defaults = lite_defaults()
    check_against_library(val_emb, val_scene.labels, val_splits[0], {k: v for k, v in defaults.items()
                                                                     if k != "score_smoothing"})
    rows, t_sweep = validation_sweep(args, val_emb, val_scene.labels, val_splits)
    chosen = choices(rows, defaults)
    points = {"lite_defaults": defaults, **chosen}
    val = evaluate_points(val_emb, val_scene.labels, val_splits, points)
    test = evaluate_points(test_emb, test_scene.labels, test_splits, points)
    idea_val, idea_verdict = judge_ideas(val_emb, val_scene, val_splits, defaults)
    idea_test = evaluate_points(test_emb, test_scene.labels, test_splits,
                                {name: {**defaults, **c} for name, c in IDEAS.items()})
    for title, res in (("Salinas-A (validation)", val), ("Indian Pines (test, once)", test),
                       ("ideas, Salinas-A", idea_val), ("ideas, Indian Pines (information only)", idea_test)):
        print(title)
        for name, accs in res.items():
            print(summary_line(name, accs), knobs_str(points.get(name, IDEAS.get(name, {}))))
    both = {**test, **idea_test}
    vs = {name: {pool: paired(test["lite_defaults"][pool], both[name][pool]) for pool in POOLS}
          for name in list(chosen) + list(IDEAS)}
    record = dict(
        what="evaluation-time extensions of the lite preset tuned on Salinas-A, confirmed once on Indian Pines",
        encoder="frozen micro foundation model (pretrained weights, lite PCA/patch/readout, no phase 0, no adaptation)",
        validation=dict(scene="salinas_a", n_shot=5, seeds=args.seeds, pools=list(POOLS)),
        test=dict(scene="indian_pines", n_shot=5, seeds=args.test_seeds),
        grid={k: list(v) for k, v in GRID.items()}, lite_defaults=defaults, chosen=chosen,
        validation_oa=val, test_oa=test, ideas=IDEAS, ideas_validation_oa=idea_val,
        ideas_validation_verdict=idea_verdict, ideas_test_oa_information_only=idea_test,
        test_paired_vs_defaults=vs, validation_table=table_record(rows),
        indian_pines_scene_pool_diagnosis=diagnose_scene_pool(test_emb, test_scene.labels, test_splits, defaults),
        timings=dict(sweep_s=t_sweep, total_s=time.perf_counter() - t_start),
        versions=dict(mifomo_lite=__version__, python=platform.python_version(), numpy=np.__version__,
                      torch=torch.__version__, platform=platform.platform()),
        threads=torch.get_num_threads(),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, args.out)
    return record


def knobs_str(p: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in p.items())


if __name__ == "__main__":
    main(sys.argv[1:])
