"""The Table X paired table on fake rows: the paired differences to ``full`` (mean, std, wins,
p-value against scipy's paired t-test), pairing by episode seed, the no-effect and no-``full``
cases, and rebuilding ablation.md from an existing folder's run folders."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import ttest_rel

from mifomo_lite.errors import DataError
from mifomo_lite.train.ablation_table import (ablation_markdown, episode_records, paired_runs, paired_to_reference,
                                              rebuild_ablation, write_ablation)
from mifomo_lite.train.summary import paired_by_seed, paired_differences, paired_stats

RNG = np.random.default_rng(7)
SEEDS = list(range(10))
FULL_HEAD = RNG.normal(60, 3, 10)
FULL_PLAIN = RNG.normal(50, 3, 10)


def _pm(values):
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def _row(head, plain, stage="final/propagated", seeds=SEEDS):
    eps = [{"seed": s, "headline": float(h), "plain": float(p)} for s, h, p in zip(seeds, head, plain)]
    return {"stage": stage, "OA": _pm(head), "AA": _pm(head), "kappa": _pm(head),
            "plain": {"OA": _pm(plain), "AA": _pm(plain), "kappa": _pm(plain)}, "time_s": 1.0, "episodes": eps}


def _payload(table, semantics="released", pool="labelled"):
    cfg = {"preset": "faithful", "target": "indian_pines", "n_shot": 5, "n_test_episodes": 10, "seed": 0,
           "ablation_semantics": semantics, "transductive_pool": pool}
    return {"config": cfg, "ablations": table, "baselines": {}}


def test_paired_numbers_match_scipy_paired_t_test():
    no_mixup_head = FULL_HEAD - RNG.normal(1.0, 1.5, 10)
    no_mixup_plain = FULL_PLAIN + RNG.normal(0.5, 2.0, 10)
    table = {"full": _row(FULL_HEAD, FULL_PLAIN), "no_mixup": _row(no_mixup_head, no_mixup_plain)}
    paired = paired_to_reference(table)
    for metric, full, other in (("headline", FULL_HEAD, no_mixup_head), ("plain", FULL_PLAIN, no_mixup_plain)):
        p = paired["no_mixup"][metric]
        d = full - other
        assert p["mean"] == pytest.approx(d.mean()) and p["std"] == pytest.approx(d.std())
        assert p["wins"] == int((d > 0).sum()) and p["n"] == 10 and p["unpaired"] == 0
        assert p["p"] == pytest.approx(ttest_rel(full, other).pvalue, rel=1e-12)
    assert set(paired) == {"no_mixup"}      # full is not paired with itself


def test_rows_are_paired_by_seed_not_by_position():
    shuffled = list(reversed(SEEDS))
    other = _row(FULL_HEAD[::-1] - 2.0, FULL_PLAIN[::-1], seeds=shuffled)   # same episodes, other order
    paired = paired_to_reference({"full": _row(FULL_HEAD, FULL_PLAIN), "x": other})["x"]
    assert paired["headline"]["mean"] == pytest.approx(2.0) and paired["headline"]["std"] == pytest.approx(0.0, abs=1e-12)
    assert paired["plain"]["mean"] == 0 and paired["plain"]["std"] == 0 and paired["plain"]["p"] is None
    partial = paired_by_seed({0: 1.0, 1: 2.0, 2: 4.0}, {1: 1.0, 2: 1.0, 9: 0.0})
    assert partial["n"] == 2 and partial["unpaired"] == 2 and partial["mean"] == pytest.approx(2.0)
    assert paired_by_seed({0: 1.0}, {1: 1.0}) is None


def test_paired_stats_is_what_paired_differences_reports():
    eps = [{"final": {"propagated": {"oa": float(a)}}, "baselines": {"b": {"oa": float(b)}}}
           for a, b in zip(FULL_HEAD, FULL_PLAIN)]
    assert paired_differences(eps)["b"] == paired_stats(FULL_HEAD - FULL_PLAIN)
    assert paired_stats([1.0])["p"] is None


def test_markdown_names_semantics_pool_and_says_when_a_row_does_nothing():
    table = {"full": _row(FULL_HEAD, FULL_PLAIN), "no_cp": _row(FULL_HEAD, FULL_PLAIN),
             "no_label_smoothing": _row(FULL_PLAIN, FULL_PLAIN, stage="final/plain")}
    md = ablation_markdown({**_payload(table), "paired": paired_to_reference(table)})
    assert "Ablation semantics: `released`" in md and "drop the evaluation-time LGC" in md
    assert "uses the GT mask" in md and "seeds 0–9" in md
    no_cp = next(line for line in md.splitlines() if line.startswith("| no_cp |") and "(no effect)" in line)
    assert no_cp.count("0 on every episode (no effect)") == 2
    d = FULL_HEAD - FULL_PLAIN    # no_label_smoothing's headline is its prototype-only OA (released semantics)
    assert f"{d.mean():+.2f} ± {d.std():.2f}" in md and "report_with_lgc=False" in md
    scene = ablation_markdown({**_payload(table, "kit", "scene"), "paired": paired_to_reference(table)})
    assert "Ablation semantics: `kit`" in scene and "`scene`" in scene and "uses the GT mask" not in scene


def test_without_full_the_table_says_so_and_pairs_nothing(tmp_path):
    payload = write_ablation(tmp_path, _payload({"no_mixup": _row(FULL_HEAD, FULL_PLAIN)}))
    assert payload["paired"] is None
    md = (tmp_path / "ablation.md").read_text()
    assert "`full` is not among the rows" in md and "Paired difference" not in md


def _fake_metrics(head, plain, cfg=None):
    summary = {"final/plain": _row(plain, plain)["plain"], "final/propagated": {k: _pm(head) for k in ("OA", "AA", "kappa")}}
    return {"config": cfg or _payload({})["config"], "summary": summary, "timings": {"total_s": 2.0},
            "episodes": [{"episode": i, "seed": s, "final": {"propagated": {"oa": float(h)}, "plain": {"oa": float(p)}}}
                         for i, (s, h, p) in enumerate(zip(SEEDS, head, plain))]}


def test_rebuild_from_an_existing_folder_reads_the_row_folders(tmp_path):
    rows = {"no_intermediate": (FULL_HEAD - 1.5, FULL_PLAIN + 0.5), "full": (FULL_HEAD, FULL_PLAIN)}
    for name, (head, plain) in rows.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(_fake_metrics(head, plain)))
    payload = rebuild_ablation(tmp_path)         # no ablation.json: an interrupted grid's rows
    assert list(payload["ablations"]) == ["full", "no_intermediate"]      # in ABLATIONS order
    p = payload["paired"]["no_intermediate"]
    assert p["headline"]["mean"] == pytest.approx(1.5) and p["headline"]["wins"] == 10
    assert p["plain"]["mean"] == pytest.approx(-0.5) and p["plain"]["wins"] == 0
    saved = json.loads((tmp_path / "ablation.json").read_text())
    assert saved["paired"]["no_intermediate"]["headline"]["n"] == 10
    assert "| no_intermediate | +1.50 ± 0.00 | 10/10 |" in (tmp_path / "ablation.md").read_text()
    saved["config"]["ablation_semantics"] = "kit"       # the header follows ablation.json when present
    (tmp_path / "ablation.json").write_text(json.dumps(saved))
    assert "Ablation semantics: `kit`" in ablation_markdown(rebuild_ablation(tmp_path))
    with pytest.raises(DataError, match="no row run folder"):
        rebuild_ablation(tmp_path / "full")


def test_episode_records_name_a_missing_stage():
    recs = episode_records(_fake_metrics(FULL_HEAD, FULL_PLAIN), "final/plain")
    assert [r["seed"] for r in recs] == SEEDS and recs[3]["headline"] == recs[3]["plain"] == FULL_PLAIN[3]
    with pytest.raises(DataError, match="after_support"):
        episode_records(_fake_metrics(FULL_HEAD, FULL_PLAIN), "after_support/propagated")


def test_cli_ablate_from_rebuilds_without_running(tmp_path, capsys):
    from mifomo_lite.cli import main

    for name, head in (("full", FULL_HEAD), ("no_cp", FULL_HEAD - 0.25)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(_fake_metrics(head, FULL_PLAIN)))
    assert main(["ablate", "--from", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| no_cp | +0.25 ± 0.00 | 10/10 |" in out and (tmp_path / "ablation.json").is_file()


def test_paired_runs_pairs_two_runs_by_seed():
    other = _fake_metrics(FULL_HEAD[:7] - RNG.normal(1, 1, 7), FULL_PLAIN[:7] + 1.0)
    other["episodes"] = other["episodes"][:7]        # a run that stopped after 7 episodes
    p = paired_runs(_fake_metrics(FULL_HEAD, FULL_PLAIN), other)
    d = FULL_HEAD[:7] - np.array([ep["final"]["propagated"]["oa"] for ep in other["episodes"]])
    assert p["headline"]["n"] == 7 and p["headline"]["unpaired"] == 3
    assert p["headline"]["p"] == pytest.approx(ttest_rel(FULL_HEAD[:7], FULL_HEAD[:7] - d).pvalue, rel=1e-9)
    assert p["plain"]["mean"] == pytest.approx(-1.0) and p["plain"]["wins"] == 0
