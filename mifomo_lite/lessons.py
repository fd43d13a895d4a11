"""Computations that the notebooks show and discuss, kept in the kit (and tested) so that a
notebook holds only what the learner should read.

``support_adaptation_curve`` is notebook 02's experiment: adapt a pretrained foundation model
with one method (head only, CP, LoRA, deep prompts, full fine-tuning) on a 5-shot support set
exactly as MIFOMO's support-only stage does — each step splits the shots of every class into
prototype shots and classified shots, scaled-cosine logits, cross-entropy, one AdamW step — and
measure, every few steps, the accuracy on the support set and on held-out query pixels — and,
at the end, how far the adaptation moved the model from the frozen one (:mod:`mifomo_lite.fsl.drift`:
embedding cosine and 10-NN overlap on the queries, ``‖ΔW‖/‖W‖`` of the adapted weights).

``normalised_wasserstein``, ``pca_plane`` and ``mixing_distances`` are notebook 04's look at the
intermediate domain: how far mixes of source and target embeddings are from either domain, in the
distance the λ scheduler uses, and a 2-D picture of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Tuple

import numpy as np
import torch

from .errors import ConfigError

__all__ = ["AdaptationCurve", "support_adaptation_curve", "episode_split", "drift_row", "plot_method_drift",
           "sign_flip_p", "paired_verdict", "normalised_wasserstein", "pca_plane", "mixing_distances"]


@dataclass
class AdaptationCurve:
    """Accuracies along the adaptation of one method: ``points`` holds ``(step, fit, test)``.

    ``fit`` is the accuracy on the support pixels that were *not* used to build the prototypes
    (the last ``n_shot - n_proto`` shots of each class, prototypes from the first ``n_proto``):
    a support pixel classified by a prototype it helped build would be scored on itself.
    ``test`` classifies the held-out query pixels with prototypes from all shots. ``drift`` is
    :func:`mifomo_lite.fsl.drift.summarise` after the last step: the query embeddings against the
    frozen model's (before the adapters were installed) and the weights against their values when
    training started (adapters at their initial values — a CP starts near, not at, the identity —
    so ``‖ΔW‖/‖W‖`` is what training moved)."""

    method: str
    trainable: int
    points: List[Tuple[int, float, float]] = field(default_factory=list)
    drift: dict = field(default_factory=dict)

    def as_array(self) -> np.ndarray:
        return np.array(self.points, dtype=float).reshape(-1, 3)

    @property
    def gap(self) -> float:
        """Fit minus test accuracy at the last evaluated step (the overfitting gap)."""
        return float(self.points[-1][1] - self.points[-1][2])


def episode_split(n_classes: int, n_shot: int, n_proto: int, generator: torch.Generator):
    """Indices into a class-major support set (``n_shot`` rows per class): a random ``n_proto``
    shots of each class build the prototypes, the rest are classified."""
    order = torch.argsort(torch.rand(n_classes, n_shot, generator=generator), dim=1)
    order = order + n_shot * torch.arange(n_classes)[:, None]
    return order[:, :n_proto].reshape(-1), order[:, n_proto:].reshape(-1)


def _evaluate(model, head, sx, sy, qx, qy, n_classes: int, n_shot: int, n_proto: int) -> Tuple[float, float]:
    from .fsl import prototypes

    fixed = torch.arange(n_classes * n_shot).reshape(n_classes, n_shot)
    proto_idx, fit_idx = fixed[:, :n_proto].reshape(-1), fixed[:, n_proto:].reshape(-1)
    model.eval()
    with torch.no_grad():
        s_emb = model(sx)
        fit_protos = prototypes(s_emb[proto_idx], sy[proto_idx], n_classes)
        fit = (head.predict(s_emb[fit_idx], fit_protos) == sy[fit_idx]).float().mean()
        all_protos = prototypes(s_emb, sy, n_classes)
        test = (head.predict(model.embed(qx, batch_size=256), all_protos) == qy).float().mean()
    return float(fit), float(test)


def _embed_eval(model, qx: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model.embed(qx, batch_size=256).cpu()


def _drift(model, qx: torch.Tensor, before: dict, frozen_emb: torch.Tensor) -> dict:
    from .fsl import drift

    k = min(10, len(qx) - 1)
    return drift.summarise(frozen_emb, _embed_eval(model, qx), model, before, k=k, max_points=None)


def support_adaptation_curve(model_name: str, method: str, sx: torch.Tensor, sy: torch.Tensor,
                             qx: torch.Tensor, qy: torch.Tensor, cfg: Any, *, steps: int, every: int,
                             seed: int = 0, device: Any = "cpu", n_proto: int = 2,
                             **method_options: Any) -> AdaptationCurve:
    """Adapt a fresh pretrained ``model_name`` with ``method`` for ``steps`` support-only steps
    (learning rates and AdamW settings from the run config ``cfg``); evaluate every ``every``
    steps and at the end. ``sx, sy`` is the support set in class-major order (equal shots per
    class, labels ``0..C-1``), ``qx, qy`` the held-out queries."""
    from .fsl import PrototypicalHead, drift, fsl_loss, prototypes
    from .models import load_foundation_model
    from .peft import apply_adaptation, param_groups

    n_classes = int(sy.max()) + 1
    n_shot = len(sy) // n_classes
    if n_shot * n_classes != len(sy) or not torch.equal(sy.cpu(), torch.arange(n_classes).repeat_interleave(n_shot)):
        raise ConfigError(f"the support labels must be class-major with equal shots (got {len(sy)} labels, "
                          f"{n_classes} classes)")
    if not 0 < n_proto < n_shot or steps < 0 or every < 1:
        raise ConfigError(f"need 0 < n_proto < n_shot, steps ≥ 0, every ≥ 1 (got n_proto={n_proto}, "
                          f"n_shot={n_shot}, steps={steps}, every={every})")
    torch.manual_seed(seed)
    model = load_foundation_model(model_name, device=device)
    frozen_emb = _embed_eval(model, qx)
    trainable = apply_adaptation(model, method, phase="target", **method_options).trainable
    before = drift.snapshot(model)                      # the adapters at their initial values
    head = PrototypicalHead().to(device)
    groups = param_groups(model, cfg.lr_model, cfg.lr_peft, cfg.lr_scale, cfg.weight_decay)
    opt = torch.optim.AdamW(groups + [{"params": list(head.parameters()), "lr": cfg.lr_scale,
                                       "weight_decay": 0.0}], eps=cfg.adam_eps)
    gen = torch.Generator().manual_seed(seed)
    curve = AdaptationCurve(method, int(trainable))
    for step in range(steps + 1):
        if step % every == 0 or step == steps:
            curve.points.append((step, *_evaluate(model, head, sx, sy, qx, qy, n_classes, n_shot, n_proto)))
        if step == steps:
            curve.drift = _drift(model, qx, before, frozen_emb)
            break
        model.train()
        proto_idx, query_idx = episode_split(n_classes, n_shot, n_proto, gen)
        emb = model(sx)
        loss = fsl_loss(head(emb[query_idx], prototypes(emb[proto_idx], sy[proto_idx], n_classes)), sy[query_idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return curve


def drift_row(curve: AdaptationCurve) -> dict:
    """The drift of one method as a flat row: ``cosine`` and ``knn_overlap`` of the query embeddings
    to the frozen model's, ``adapter_rel_delta`` (``‖ΔW‖/‖W‖`` of the CP/LoRA/prompt weights in
    their merged form; 0 without adapters) and ``other_rel_delta`` (every other trained weight),
    both since training started."""
    if not curve.drift:
        raise ConfigError(f"the curve of {curve.method!r} has no drift record (it comes from support_adaptation_curve)")
    w = curve.drift["weights"]
    return {"method": curve.method, "cosine": curve.drift["cosine"], "knn_overlap": curve.drift["knn_overlap"],
            "adapter_rel_delta": float(w["adapter_rel_delta"] or 0.0),
            "other_rel_delta": float(w["other_rel_delta"] or 0.0)}


def plot_method_drift(rows: List[dict], title: str = "how far did each method move the model?"):
    """Three bar panels per method (rows of :func:`drift_row`): the embedding cosine to the frozen
    model, the 10-NN overlap (1 = unchanged for both) and ``‖ΔW‖/‖W‖`` (0 = unchanged; adapters
    and the other trained weights side by side, on a log scale)."""
    from .train.report import _plt

    plt = _plt()
    names = [r["method"] for r in rows]
    x = np.arange(len(rows))
    fig, axs = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, key, label in ((axs[0], "cosine", "embedding cosine to frozen"), (axs[1], "knn_overlap", "10-NN overlap")):
        ax.bar(x, [r[key] for r in rows], color="tab:blue")
        ax.set_ylim(0.0, 1.02)
        ax.set_title(label, fontsize=9)
    for off, key, colour in ((-0.2, "adapter_rel_delta", "tab:orange"), (0.2, "other_rel_delta", "tab:grey")):
        axs[2].bar(x + off, [max(r[key], 1e-8) for r in rows], width=0.4, color=colour,
                   label=key.split("_")[0] + " weights")
    axs[2].set_yscale("log")
    axs[2].set_title("‖ΔW‖ / ‖W‖", fontsize=9)
    axs[2].legend(fontsize=8)
    for ax in axs:
        ax.set_xticks(x, names, fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def sign_flip_p(differences: Any, *, exact_up_to: int = 12, draws: int = 4096, seed: int = 0) -> float:
    """Two-sided p-value of the mean of paired differences under random sign flips (exact
    enumeration up to ``exact_up_to`` pairs, else ``draws`` seeded random flips). With ``n``
    pairs no p below ``2 / 2**n`` is possible: 5 episodes can never reach p < 0.05."""
    d = np.asarray(differences, dtype=float).ravel()
    if d.size == 0:
        raise ConfigError("sign_flip_p needs at least one paired difference")
    if d.size <= exact_up_to:
        signs = np.array(np.meshgrid(*[[-1.0, 1.0]] * d.size)).reshape(d.size, -1).T
    else:
        signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(draws, d.size))
    return float(np.mean(np.abs((signs * d).mean(1)) >= abs(d.mean()) - 1e-12))


def paired_verdict(differences: Any, claim: str, alpha: float = 0.05) -> Tuple[bool, str]:
    """Whether paired differences (> 0 = the claim's direction) support ``claim`` at level
    ``alpha`` by :func:`sign_flip_p`, and the sentence a notebook prints."""
    d = np.asarray(differences, dtype=float).ravel()
    p = sign_flip_p(d)
    ok = bool(d.mean() > 0 and p < alpha)
    head = "supported" if ok else "not supported at this budget"
    floor = f"; {d.size} pairs allow p ≥ {2 / 2 ** d.size:.3f}" if not ok else ""
    return ok, (f"{head}: {claim} ({d.mean():+.2f} ± {d.std():.2f} over {d.size} paired episodes, "
                f"p = {p:.3f}{floor})")


def normalised_wasserstein(a: torch.Tensor, b: torch.Tensor) -> float:
    """1-Wasserstein distance between the L2-normalised rows of ``a`` and ``b`` (``[n, D]``, ``[m, D]``):
    the distance the λ scheduler compares (:class:`~mifomo_lite.fsl.MixupScheduler`)."""
    import torch.nn.functional as F

    from .fsl import wasserstein_distance

    return wasserstein_distance(F.normalize(torch.as_tensor(a), dim=1), F.normalize(torch.as_tensor(b), dim=1))


def pca_plane(points: torch.Tensor):
    """A function mapping ``[n, D]`` points to ``[n, 2]`` NumPy coordinates on the first two
    principal axes of ``points`` (centred on their mean), so that several sets share one picture."""
    points = torch.as_tensor(points, dtype=torch.float32)
    if points.dim() != 2 or points.shape[0] < 2 or points.shape[1] < 2:
        raise ConfigError(f"pca_plane needs at least 2 points of at least 2 dimensions; got shape {tuple(points.shape)}")
    mean = points.mean(0, keepdim=True)
    axes = torch.linalg.svd(points - mean, full_matrices=False)[2][:2].T

    def project(z: torch.Tensor) -> np.ndarray:
        return ((torch.as_tensor(z, dtype=torch.float32) - mean) @ axes).numpy()

    return project


def mixing_distances(e_s: torch.Tensor, e_t: torch.Tensor, mixed: dict) -> np.ndarray:
    """``[len(mixed), 2]``: for each mix (``{λ: [n, D] embeddings}``, in the dict's order) the
    :func:`normalised_wasserstein` distance to the source ``e_s`` and to the target ``e_t``."""
    if not mixed:
        raise ConfigError("mixing_distances needs at least one mixed set ({λ: embeddings})")
    return np.array([[normalised_wasserstein(e_s, m), normalised_wasserstein(e_t, m)] for m in mixed.values()])
