"""The Table X ablation table (``ablation.md`` / ``ablation.json``): each row's OA, and its paired
difference to the full method on the same episodes — on the headline metric and on prototype-only
OA — so that a component's effect is read against the split-to-split noise it shares with ``full``.

The per-episode OAs come from each row's run (``metrics["episodes"]``); an episode is identified by
its seed (the same seed is the same support/query split), so rows are paired seed by seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from ..errors import DataError
from ..utils import atomic_path, write_json
from .config import ablation_overrides
from .report import LABELLED_POOL_MARK, fmt_pm
from .summary import paired_by_seed

__all__ = ["PAIRED_METRICS", "REFERENCE", "episode_records", "row_from_metrics", "paired_runs", "paired_to_reference", "ablation_markdown",
           "write_ablation", "rebuild_ablation"]

#: The row every other row is paired with.
REFERENCE = "full"
#: The two metrics of the paired table: record key → what it is.
PAIRED_METRICS = {
    "headline": "headline OA (the row's final stage: with propagation unless the row drops it)",
    "plain": "prototype-only OA (final/plain, no propagation)",
}
_SEMANTICS = {
    "released": "as the released code's flags: `no_label_smoothing` and `all_off` also drop the evaluation-time "
                "LGC (their headline is prototype-only), and `all_off` skips the support-only adaptation",
    "kit": "each row is exactly its overrides",
}


def episode_records(metrics: dict, stage: str) -> list:
    """Per-episode OA of one run: ``[{"seed", "headline", "plain"}]``, ``headline`` read at
    ``stage`` (``"final/propagated"`` or ``"final/plain"``), ``plain`` at ``final/plain``."""
    st, kind = stage.split("/")
    try:
        return [{"seed": ep["seed"], "headline": float(ep[st][kind]["oa"]), "plain": float(ep["final"]["plain"]["oa"])}
                for ep in metrics["episodes"]]
    except KeyError as exc:
        raise DataError(f"episode record without {exc} (stage {stage!r}): not a run's metrics.json?") from exc


def row_from_metrics(metrics: dict) -> tuple[dict, dict]:
    """One ablation row from its run's ``metrics``: ``({"stage", "OA", "AA", "kappa", "plain",
    "time_s", "episodes"}, {baseline: summary})``. The headline stage is ``final/propagated`` when
    the run propagated, else ``final/plain``."""
    s = metrics["summary"]
    key = "final/propagated" if "final/propagated" in s else "final/plain"
    row = {"stage": key, **s[key], "plain": s.get("final/plain"), "time_s": metrics["timings"]["total_s"],
           "episodes": episode_records(metrics, key)}
    return row, {k.split("/", 1)[1]: v for k, v in s.items() if k.startswith("baseline/")}


def _by_seed(records: list, metric: str) -> dict:
    return {r["seed"]: r[metric] for r in records}


def paired_to_reference(table: dict, reference: str = REFERENCE) -> Optional[dict]:
    """``{row: {metric: paired stats of reference − row}}`` for every row but ``reference`` and each
    metric of :data:`PAIRED_METRICS` (:func:`~mifomo_lite.train.summary.paired_by_seed`: ``wins`` =
    episodes where the reference is strictly ahead); None when ``reference`` is not a row."""
    if reference not in table:
        return None
    ref = table[reference]["episodes"]
    return {name: {m: paired_by_seed(_by_seed(ref, m), _by_seed(row["episodes"], m)) for m in PAIRED_METRICS}
            for name, row in table.items() if name != reference}


def paired_runs(ahead: dict, behind: dict) -> dict:
    """Two runs' ``metrics`` paired on the episodes (seeds) both hold: ``{metric: paired stats of
    ahead − behind}`` for each metric of :data:`PAIRED_METRICS` (e.g. one adapter against another
    on the same splits)."""
    a, b = (row_from_metrics(m)[0]["episodes"] for m in (ahead, behind))
    return {m: paired_by_seed(_by_seed(a, m), _by_seed(b, m)) for m in PAIRED_METRICS}


def _paired_cells(p: Optional[dict]) -> list:
    if not p:
        return ["—", "—", "—"]
    if p["std"] == 0 and p["mean"] == 0:
        return ["0 on every episode (no effect)", f"0/{p['n']}", "—"]
    pval = "—" if p["p"] is None else f"{p['p']:.2g}"
    return [f"{p['mean']:+.2f} ± {p['std']:.2f}", f"{p['wins']}/{p['n']}", pval]


def _header(payload: dict) -> list:
    cfg = payload["config"]
    sem = cfg.get("ablation_semantics", "kit")
    pool = cfg.get("transductive_pool", "labelled")
    pool_text = (f"`labelled` (propagation nodes and queries are the ground-truth-labelled pixels: {LABELLED_POOL_MARK})"
                 if pool == "labelled" else f"`{pool}` (every pixel of the scene is a node; the mask only scores)")
    return ["# Table X ablation", "",
            f"Preset `{cfg.get('preset')}`, target `{cfg.get('target')}`, {cfg.get('n_shot')}-shot, "
            f"{cfg.get('n_test_episodes')} episodes (seeds {cfg.get('seed')}–"
            f"{int(cfg.get('seed', 0)) + int(cfg.get('n_test_episodes', 1)) - 1}).", "",
            f"Ablation semantics: `{sem}` — {_SEMANTICS.get(sem, sem)}.", "",
            f"Pool: {pool_text}.", ""]


def _rows_table(payload: dict) -> list:
    sem = payload["config"].get("ablation_semantics", "kit")
    lines = ["| ablation | overrides | headline stage | OA (%) | AA (%) | κ (×100) | prototypes only, OA (%) | time (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in payload["ablations"].items():
        over = ", ".join(f"{k}={v}" for k, v in ablation_overrides(name, sem).items()) or "—"
        plain = fmt_pm(r["plain"]["OA"]["mean"], r["plain"]["OA"]["std"]) if r.get("plain") else "—"
        cells = [fmt_pm(r[k]["mean"], r[k]["std"]) for k in ("OA", "AA", "kappa")]
        lines.append(f"| {name} | {over} | {r.get('stage', '—')} | " + " | ".join(cells)
                     + f" | {plain} | {r.get('time_s', float('nan')):.0f} |")
    return lines


def _paired_table(payload: dict) -> list:
    paired = payload.get("paired")
    if paired is None:
        return ["", f"`{REFERENCE}` is not among the rows: no paired differences to it."]
    lines = ["", f"## Paired difference to `{REFERENCE}` ({REFERENCE} − ablation, same episodes)", "",
             "Positive: the full method is ahead, i.e. what the switched-off component earns; std is the "
             "population std of the per-episode differences; ahead = episodes where the full method is "
             "strictly ahead; p = two-sided paired t-test.", "",
             "| ablation | headline OA: full − row (points) | ahead | p | prototype-only OA: full − row (points) "
             "| ahead | p |", "|---|---|---|---|---|---|---|"]
    for name, by_metric in paired.items():
        cells = _paired_cells(by_metric["headline"]) + _paired_cells(by_metric["plain"])
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    unpaired = {n: m["headline"]["unpaired"] for n, m in paired.items() if m["headline"] and m["headline"]["unpaired"]}
    if unpaired:
        lines += ["", f"Episodes present in only one of the pair (left out): {unpaired}."]
    return lines


def ablation_markdown(payload: dict) -> str:
    """``ablation.md``: the header (preset, episodes, semantics, pool), the rows, the paired
    table against ``full`` and the baselines of the first row."""
    lines = _header(payload) + _rows_table(payload) + _paired_table(payload)
    if payload.get("baselines"):
        lines += ["", "## Baselines (same episodes)", "", "| baseline | OA (%) | AA (%) | κ (×100) |", "|---|---|---|---|"]
        lines += [f"| {n} | " + " | ".join(fmt_pm(v[k]["mean"], v[k]["std"]) for k in ("OA", "AA", "kappa")) + " |"
                  for n, v in payload["baselines"].items()]
    return "\n".join(lines) + "\n"


def write_ablation(out: Path, payload: dict) -> dict:
    """Add the paired table to ``payload`` and write ``out/ablation.json`` and ``out/ablation.md``."""
    payload = {**payload, "paired_reference": REFERENCE, "paired": paired_to_reference(payload["ablations"])}
    write_json(Path(out) / "ablation.json", payload)
    with atomic_path(Path(out) / "ablation.md") as tmp:
        tmp.write_text(ablation_markdown(payload))
    return payload


def rebuild_ablation(folder: Path) -> dict:
    """Rewrite ``ablation.json`` / ``ablation.md`` of an ablation folder from its rows' run folders
    (``folder/<row>/metrics.json``, rows in :data:`~mifomo_lite.train.config.ABLATIONS` order), e.g.
    one written before the paired table existed, or the rows an interrupted grid finished. The
    header's settings come from ``ablation.json`` when present, else from the first row's run."""
    from .config import ABLATIONS

    folder = Path(folder)
    names = [n for n in ABLATIONS if (folder / n / "metrics.json").is_file()]
    if not names:
        raise DataError(f"no row run folder (<ablation>/metrics.json) under {folder}: not an ablation folder")
    metrics = {n: json.loads((folder / n / "metrics.json").read_text()) for n in names}
    table, baselines = {}, {}
    for name in names:
        table[name], base = row_from_metrics(metrics[name])
        baselines = baselines or base
    old = folder / "ablation.json"
    cfg = json.loads(old.read_text())["config"] if old.is_file() else metrics[names[0]]["config"]
    return write_ablation(folder, {"config": cfg, "ablations": table, "baselines": baselines})
