"""Did adaptation move anything? Drift of embeddings and weights between two states of a model.

A few-shot pipeline can report a good accuracy although its adaptation step barely changed the
model — the accuracy then comes from the frozen features and the classifier on top. Three
measures make that visible:

* :func:`embedding_cosine` — the mean cosine between the embeddings of the *same pixels* under two
  models (e.g. frozen and adapted). 1 means every embedding kept its direction.
* :func:`knn_overlap` — for each pixel, the share of its ``k`` nearest neighbours (10 by default)
  that are the same under both embeddings, averaged over the pixels. Prototype and graph methods
  depend on neighbourhoods, not on absolute coordinates, so this says whether the *geometry* that
  the classifier and label propagation see has changed. 1 = nothing changed; two unrelated
  embeddings give about ``k / (n − 1)``.
* :func:`weight_drift` — ``‖ΔW‖ / ‖W‖`` per adapted layer group, between a :func:`snapshot` taken
  before a phase and the model after it. Each adaptation method is measured on the weight it
  effectively applies, i.e. its *merged form*:

  - **CP** (:mod:`mifomo_lite.peft.cp`): the folded query (or value) rows ``W_h' = C_hᵀ·W_h`` of
    ``attn.qkv``; ΔW compares them under the current ``C`` and the snapshot's ``C``.
  - **LoRA** (:mod:`mifomo_lite.peft.lora`): the merged rows ``W + s·B·A`` (input variant) or
    ``W + s·B·A·W`` (output variant); with B zero-initialised, ΔW is the low-rank update itself
    and ``‖ΔW‖/‖W‖`` its size against the frozen base weight. (The output variant also moves the
    bias; only weights are counted.)
  - For both, the current base rows W fold both states, so an adapter group measures the adapter
    alone; a change of the base weights themselves (e.g. by target self-supervision before the
    adapters train) shows in the group of those weights.
  - **Deep prompts**: the prompt tokens themselves.
  - **Everything else that trains** (full fine-tuning, fusion layers, heads): every parameter
    against its snapshot value, grouped by model part.

  Each group also reports ``param_rel_delta``, the relative change of the adapter's own parameters
  (``‖C − C₀‖/‖C₀‖``, ``‖(A, B) − (A₀, B₀)‖/‖(A₀, B₀)‖``), which can be large while the merged
  weight hardly moves (a near-identity C acting on a large W, or a tiny B).

:func:`summarise` bundles the three for one phase of a run.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, DataError
from ..peft.cp import CoalescentProjection
from ..peft.lora import LoRALinear
from ._checks import check_2d, check_choice

__all__ = ["embedding_cosine", "knn_overlap", "probe_pixels", "snapshot", "weight_drift", "model_drift",
           "summarise"]

METRICS = ("cosine", "euclidean")


# ------------------------------------------------------------------------------- embeddings
def _pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    check_2d(a, "frozen_emb")
    check_2d(b, "emb")
    if a.shape != b.shape:
        raise DataError(f"the two embeddings must describe the same pixels with the same width; got shapes "
                        f"{tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[0] == 0:
        raise DataError("the embeddings are empty (0 pixels)")
    return a.detach().double().cpu(), b.detach().double().cpu()


def embedding_cosine(frozen_emb: torch.Tensor, emb: torch.Tensor) -> float:
    """Mean over pixels of ``cos(frozen_emb[i], emb[i])``; both ``[n, D]`` for the same n pixels."""
    a, b = _pair(frozen_emb, emb)
    return float(F.cosine_similarity(a, b, dim=1, eps=1e-12).mean())


def _knn(x: torch.Tensor, k: int, metric: str, chunk: int) -> torch.Tensor:
    """Indices ``[n, k]`` of each row's k nearest other rows (self excluded)."""
    if metric == "cosine":
        x = F.normalize(x, dim=1, eps=1e-12)
    out = []
    for s in range(0, x.shape[0], chunk):
        q = x[s:s + chunk]
        d = -(q @ x.T) if metric == "cosine" else torch.cdist(q, x)
        d[torch.arange(q.shape[0]), torch.arange(s, s + q.shape[0])] = float("inf")
        out.append(torch.topk(d, k, dim=1, largest=False).indices)
    return torch.cat(out)


def knn_overlap(frozen_emb: torch.Tensor, emb: torch.Tensor, k: int = 10, metric: str = "cosine",
                max_points: Optional[int] = 4000, seed: int = 0, chunk: int = 1024) -> float:
    """Mean share of each pixel's ``k`` nearest neighbours (self excluded) that are the same in
    ``frozen_emb`` and ``emb`` (``[n, D]`` each, same pixels in the same order). ``metric`` is
    ``"cosine"`` (the kit's prototype and LGC geometry) or ``"euclidean"``. At most ``max_points``
    pixels, drawn with ``seed`` (the same ones in both), enter the neighbour search, which costs
    O(n²) time (``None`` = all)."""
    check_choice("metric", metric, METRICS)
    a, b = _pair(frozen_emb, emb)
    k = int(k)
    if max_points is not None and a.shape[0] > int(max_points):
        idx = torch.randperm(a.shape[0], generator=torch.Generator().manual_seed(seed))[:int(max_points)]
        a, b = a[idx], b[idx]
    if not 1 <= k < a.shape[0]:
        raise ConfigError(f"k={k} nearest neighbours need 1 ≤ k < number of pixels ({a.shape[0]})")
    na, nb = _knn(a, k, metric, chunk), _knn(b, k, metric, chunk)
    same = (na.unsqueeze(2) == nb.unsqueeze(1)).any(dim=2).sum(dim=1)
    return float(same.double().mean() / k)


def probe_pixels(height: int, width: int, n: int = 2000, seed: int = 0) -> tuple:
    """``(rows, cols)`` of ``n`` distinct pixels drawn uniformly from an ``height × width`` scene
    with ``seed`` (all pixels when the scene has fewer). Drawn without the ground truth, so the
    drift of a run can be watched on a scene that has none; embed the same probe at every phase."""
    total = int(height) * int(width)
    if total < 1:
        raise DataError(f"cannot draw probe pixels from an empty {height}×{width} scene")
    flat = np.sort(np.random.default_rng(seed).choice(total, min(int(n), total), replace=False))
    rows, cols = np.unravel_index(flat, (int(height), int(width)))
    return rows.astype(np.int64), cols.astype(np.int64)


# ---------------------------------------------------------------------------------- weights
def snapshot(model: nn.Module) -> Dict[str, torch.Tensor]:
    """Detached CPU copies of every parameter of ``model``, by name: the "before" of
    :func:`weight_drift`. Refuses a model with merged CP/LoRA adapters, whose ``qkv`` weights then
    hold the folded rows instead of the frozen ones (unmerge first)."""
    merged = [n for n, m in model.named_modules() if isinstance(m, (CoalescentProjection, LoRALinear)) and m.merged]
    if merged:
        raise ConfigError(f"cannot snapshot a model with merged adapters ({merged[0]}, ...): call "
                          "mifomo_lite.peft.unmerge_adapters(model) first")
    return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters()}


def _before(before: Dict[str, torch.Tensor], name: str, now: torch.Tensor) -> torch.Tensor:
    t = before.get(name)
    if t is None:
        raise DataError(f"the snapshot has no tensor {name!r}: it was taken from another model or before "
                        "the adapters were installed (take it after apply_adaptation)")
    if t.shape != now.shape:
        raise DataError(f"snapshot tensor {name!r} has shape {tuple(t.shape)} but the model's has {tuple(now.shape)}")
    return t.double()


MISSING = ("error", "frozen")


def _complete(model: nn.Module, before: Dict[str, torch.Tensor], missing: str) -> Dict[str, torch.Tensor]:
    """``before`` plus, with ``missing="frozen"``, the adapter tensors it lacks at the values that
    make the adapter the identity: C = I, LoRA B = 0 (A as now), prompts = 0. Lets a snapshot taken
    before :func:`~mifomo_lite.peft.apply_adaptation` serve as "the frozen model"."""
    check_choice("missing", missing, MISSING)
    if missing == "error":
        return before
    out = dict(before)
    for name, mod in model.named_modules():
        pre = f"{name}." if name else ""
        if isinstance(mod, CoalescentProjection) and pre + "weight" not in out:
            eye = torch.eye(mod.head_dim, dtype=mod.weight.dtype)
            out[pre + "weight"] = eye.expand_as(mod.weight.detach().cpu()).clone()
        elif isinstance(mod, LoRALinear):
            for k in mod.lora_A:
                out.setdefault(f"{pre}lora_A.{k}", mod.lora_A[k].detach().cpu().clone())
                out.setdefault(f"{pre}lora_B.{k}", torch.zeros_like(mod.lora_B[k].detach().cpu()))
        prompts = getattr(mod, "prompts", None)
        if isinstance(prompts, nn.Parameter) and pre + "prompts" not in out:
            out[pre + "prompts"] = torch.zeros_like(prompts.detach().cpu())
    return out


def _ratio(d: float, r: float) -> Optional[float]:
    """``d / r``; 0 when nothing moved; ``None`` (JSON null) when a tensor grew from zero."""
    return d / r if r > 0 else (0.0 if d == 0 else None)


def _fold_cp(c: torch.Tensor, w: torch.Tensor, heads: int, dh: int) -> torch.Tensor:
    """Merged rows ``C_hᵀ·W_h`` for every head (``c`` is [H, dh, dh] or shared [dh, dh])."""
    c = c.expand(heads, dh, dh) if c.dim() == 2 else c
    return (c.transpose(-1, -2) @ w.reshape(heads, dh, -1)).reshape(heads * dh, -1)


def _cp_entries(model: nn.Module, before: dict) -> list:
    out = []
    for name, mod in model.named_modules():
        if not isinstance(mod, CoalescentProjection):
            continue
        attn_name = name.rpartition(".")[0]
        wname = f"{attn_name}.qkv.weight" if attn_name else "qkv.weight"
        w_now = model.get_parameter(wname).detach().double().cpu()
        D = mod.num_heads * mod.head_dim
        rows = slice(0, D) if mod.side == "query" else slice(2 * D, 3 * D)
        c_now = mod.weight.detach().double().cpu()
        c_0 = _before(before, f"{name}.weight", mod.weight)
        eff_now = _fold_cp(c_now, w_now[rows], mod.num_heads, mod.head_dim)
        eff_0 = _fold_cp(c_0, w_now[rows], mod.num_heads, mod.head_dim)
        out.append((name, "cp", eff_now - eff_0, eff_0, [c_now - c_0], [c_0], mod.weight.numel()))
    return out


def _lora_entries(model: nn.Module, before: dict) -> list:
    out = []
    for name, mod in model.named_modules():
        if not isinstance(mod, LoRALinear):
            continue
        pre = f"{name}." if name else ""
        w_all = mod.weight.detach().double().cpu()
        for k, (a, b) in mod.slices.items():
            tensors = {}
            for when, src in (("now", None), ("0", before)):
                A = mod.lora_A[k].detach().double().cpu() if src is None else _before(src, f"{pre}lora_A.{k}", mod.lora_A[k])
                B = mod.lora_B[k].detach().double().cpu() if src is None else _before(src, f"{pre}lora_B.{k}", mod.lora_B[k])
                W = w_all[a:b]
                upd = B @ A if mod.variant == "input" else B @ (A @ W)
                tensors[when] = (W + mod.scaling * upd, A, B)
            (e_now, a_now, b_now), (e_0, a_0, b_0) = tensors["now"], tensors["0"]
            n = mod.lora_A[k].numel() + mod.lora_B[k].numel()
            out.append((f"{pre}{k}", "lora", e_now - e_0, e_0, [a_now - a_0, b_now - b_0], [a_0, b_0], n))
    return out


def _plain_entries(model: nn.Module, before: dict, skip: set) -> list:
    """Prompts and every other parameter that trains now or changed since the snapshot."""
    out = []
    for name, p in model.named_parameters():
        if name in skip:
            continue
        now = p.detach().double().cpu()
        ref = _before(before, name, p)
        if not (p.requires_grad or not torch.equal(now, ref)):
            continue
        kind = "prompt" if name.rpartition(".")[2] == "prompts" else "weights"
        out.append((name, kind, now - ref, ref, [now - ref], [ref], p.numel()))
    return out


def _group_of(name: str, kind: str) -> str:
    parts = name.split(".")
    if kind == "prompt":
        return name
    if kind in ("cp", "lora"):
        i = parts.index("blocks") if "blocks" in parts else 0
        return f"{'.'.join(parts[:i])}.{kind}" if i > 0 else kind
    if len(parts) >= 3 and parts[1] == "blocks":
        return f"{parts[0]}.blocks"
    return parts[0] if len(parts) > 1 else name


def _norm(ts: list) -> float:
    return float(torch.sqrt(sum((t * t).sum() for t in ts))) if ts else 0.0


def weight_drift(model: nn.Module, before: Dict[str, torch.Tensor], *, missing: str = "error") -> Dict[str, dict]:
    """``{group: {...}}``: the relative change of each adapted layer group of ``model`` since the
    :func:`snapshot` ``before`` (see the module docstring for what each method's ΔW is).

    Groups are ``<encoder>.cp`` / ``<encoder>.lora`` for adapters, ``<encoder>.prompts`` for
    prompts and the model part (``spat_encoder.blocks``, ``merger``, ``classifier``, ...) for other
    parameters that train or changed. Each entry: ``kind``, ``n_layers``, ``n_params``,
    ``delta_norm`` and ``ref_norm`` (of the merged-form weights), ``rel_delta`` (their ratio),
    ``max_layer_rel`` (the largest per-layer ratio) and ``param_rel_delta`` (the adapter's own
    parameters). Frozen parameters that did not change are left out. A ratio whose reference is
    zero (prompts measured against a model without prompts) is ``None``.

    ``missing="frozen"`` accepts a snapshot taken *before* the adapters were installed (e.g. right
    after the model was built) and measures against the frozen model: a missing CP counts as I, a
    missing LoRA pair as B = 0, missing prompts as 0 (see :func:`_complete`)."""
    before = _complete(model, before, missing)
    entries = _cp_entries(model, before) + _lora_entries(model, before)
    skip = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, CoalescentProjection)}
    for n, m in model.named_modules():
        if isinstance(m, LoRALinear):
            pre = f"{n}." if n else ""
            skip |= {f"{pre}lora_A.{k}" for k in m.lora_A} | {f"{pre}lora_B.{k}" for k in m.lora_B}
    entries += _plain_entries(model, before, skip)
    groups: Dict[str, dict] = {}
    for name, kind, d_eff, ref_eff, d_par, ref_par, n in entries:
        g = groups.setdefault(_group_of(name, kind), {"kind": kind, "n_layers": 0, "n_params": 0, "_d": [],
                                                       "_r": [], "_dp": [], "_rp": [], "max_layer_rel": 0.0})
        g["n_layers"] += 1
        g["n_params"] += int(n)
        g["_d"].append(d_eff)
        g["_r"].append(ref_eff)
        g["_dp"] += d_par
        g["_rp"] += ref_par
        g["max_layer_rel"] = max(g["max_layer_rel"], _ratio(_norm([d_eff]), _norm([ref_eff])) or 0.0)
    for g in groups.values():
        d, r = _norm(g.pop("_d")), _norm(g.pop("_r"))
        dp, rp = _norm(g.pop("_dp")), _norm(g.pop("_rp"))
        g.update(delta_norm=d, ref_norm=r, rel_delta=_ratio(d, r), param_rel_delta=_ratio(dp, rp))
    return groups


def model_drift(model: nn.Module, before: Dict[str, torch.Tensor], *, missing: str = "error") -> dict:
    """:func:`weight_drift` plus whole-model totals: ``adapter_rel_delta`` (all CP/LoRA/prompt
    groups together), ``other_rel_delta`` (all other changed or trainable parameters) and
    ``max_rel_delta`` (the largest group ratio)."""
    groups = weight_drift(model, before, missing=missing)

    def pooled(sel) -> Optional[float]:
        d = sum(g["delta_norm"] ** 2 for g in groups.values() if sel(g)) ** 0.5
        r = sum(g["ref_norm"] ** 2 for g in groups.values() if sel(g)) ** 0.5
        return _ratio(d, r)

    return {
        "groups": groups,
        "adapter_rel_delta": pooled(lambda g: g["kind"] != "weights"),
        "other_rel_delta": pooled(lambda g: g["kind"] == "weights"),
        "max_rel_delta": max((g["rel_delta"] for g in groups.values() if g["rel_delta"] is not None), default=0.0),
    }


def summarise(frozen_emb: torch.Tensor, emb: torch.Tensor, model: Optional[nn.Module] = None,
              before: Optional[Dict[str, torch.Tensor]] = None, *, k: int = 10, metric: str = "cosine",
              max_points: Optional[int] = 4000, seed: int = 0, missing: str = "error") -> dict:
    """One phase's drift record: ``{"cosine", "knn_overlap", "k", "n_pixels"}`` for the two
    embeddings of the same pixels, plus ``"weights"`` (:func:`model_drift`) when ``model`` and its
    :func:`snapshot` ``before`` are given (``missing`` as in :func:`weight_drift`). All values are
    plain floats/ints/dicts or ``None`` (JSON-ready)."""
    out = {
        "cosine": embedding_cosine(frozen_emb, emb),
        "knn_overlap": knn_overlap(frozen_emb, emb, k=k, metric=metric, max_points=max_points, seed=seed),
        "k": int(k),
        "n_pixels": int(torch.as_tensor(emb).shape[0]),
    }
    if (model is None) != (before is None):
        raise ConfigError("pass both model and before (a snapshot) to measure weight drift, or neither")
    if model is not None:
        out["weights"] = model_drift(model, before, missing=missing)
    return out
