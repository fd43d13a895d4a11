"""Explorers for the notebooks: sliders that redraw a figure from embeddings computed once.

Each explorer is a pure, fast computation on cached embeddings (tested, and timed by
``benchmarks/bench_explore.py``: a redraw should take under a second on a CPU) plus an ipywidgets
front end that redraws a matplotlib figure whenever a slider moves:

* :func:`propagation_explorer` — σ and α of label propagation (notebook 05; :func:`propagation_view`);
* :func:`lambda_explorer` — the Wasserstein λ scheduler: τ, σ_p, the form, the number of steps
  (notebook 04; :func:`lambda_trajectory`);
* :func:`lr_explorer` — the learning rate of a linear head trained on the support set: loss and
  support/query accuracy along the steps (notebook 03; :func:`lr_curve`);
* :func:`shots_explorer` — accuracy against the number of shots per class (notebook 03; :func:`shots_view`).

In batch mode (papermill, CI, the book; :func:`mifomo_lite.notebooks.batch_mode`) or without
ipywidgets, an explorer draws one static figure of its initial state and returns ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ConfigError, DataError

__all__ = ["PropagationView", "propagation_view", "lambda_trajectory", "LearningCurve", "lr_curve",
           "shots_view", "draw_propagation", "draw_lambda", "draw_lr", "draw_shots",
           "propagation_explorer", "lambda_explorer", "lr_explorer", "shots_explorer"]


def _emb(x: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x), dtype=torch.float64)
    if t.dim() != 2 or t.shape[0] == 0:
        raise DataError(f"{name} must be a non-empty (n, D) array of embeddings; got shape {tuple(t.shape)}")
    return t


def _labels(y: Any, n: int, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)).long().reshape(-1)
    if t.numel() != n:
        raise DataError(f"{name} has {t.numel()} labels for {n} embeddings")
    if t.numel() and int(t.min()) < 0:
        raise DataError(f"{name} must hold class ids 0..C-1; found {int(t.min())}")
    return t


def _classes(support_y: torch.Tensor) -> int:
    c = int(support_y.max()) + 1
    missing = sorted(set(range(c)) - set(support_y.tolist()))
    if missing:
        raise DataError(f"support_y has no shot of class(es) {missing}: every class needs a prototype")
    return c


def _median_sigma(s: Any, q: Any = None) -> float:
    """The median cosine distance between the embeddings (on at most 1,000 seeded points)."""
    from .fsl import median_distance_sigma

    x = _emb(s, "support_emb") if q is None else torch.cat([_emb(s, "support_emb"), _emb(q, "query_emb")])
    return median_distance_sigma(x, distance="cosine", max_samples=1000, generator=torch.Generator().manual_seed(0))


# --- 1. label propagation: σ and α ------------------------------------------------------------

@dataclass
class PropagationView:
    """Pseudo-label accuracy of the prototypes (``plain``) and after LGC propagation
    (``propagated``), the share of argmaxes propagation changed, and the (C, C) confusion matrix
    after propagation (rows: true class, columns: predicted)."""

    sigma: float
    alpha: float
    plain: float
    propagated: float
    changed: float
    confusion: np.ndarray


def propagation_view(support_emb, support_y, query_emb, query_y, *, sigma: Any = 50.0, alpha: float = 0.9,
                     scale: float = 20.0, batch_size: Optional[int] = 80) -> PropagationView:
    """Propagate the prototypes' query probabilities with σ and α (the released code's LGC, on
    batches of ``batch_size`` queries; ``None``: one graph) and grade them with the true labels.
    ``sigma="median"``: the median cosine distance between the embeddings (no labels used; on a
    seeded subset of 1,000 when there are more)."""
    from .fsl import label_propagation, prototypes

    s, q = _emb(support_emb, "support_emb"), _emb(query_emb, "query_emb")
    sigma = _median_sigma(s, q) if isinstance(sigma, str) and sigma == "median" else sigma
    if isinstance(sigma, str) or not sigma > 0:
        raise ConfigError(f"sigma must be > 0 or 'median'; got {sigma!r}")
    sy, qy = _labels(support_y, len(s), "support_y"), _labels(query_y, len(q), "query_y")
    c = _classes(sy)
    probs = torch.softmax(scale * F.normalize(q, dim=1) @ F.normalize(prototypes(s, sy, c), dim=1).T, dim=1)
    out = label_propagation(s, F.one_hot(sy, c).double(), q, probs, alpha=float(alpha), sigma=float(sigma),
                            batch_size=batch_size)
    pred, pred0 = out.argmax(1), probs.argmax(1)
    confusion = np.bincount((qy * c + pred).numpy(), minlength=c * c).reshape(c, c)
    return PropagationView(float(sigma), float(alpha), float((pred0 == qy).double().mean()),
                           float((pred == qy).double().mean()), float((pred != pred0).double().mean()), confusion)


def draw_propagation(fig, view: PropagationView, class_names: Optional[Sequence[str]] = None):
    """Accuracy bars (prototypes vs propagated) and the row-normalised confusion matrix."""
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    ax1.bar(["prototypes", "propagated"], [100 * view.plain, 100 * view.propagated], color=["grey", "tab:green"])
    ax1.set(ylim=(0, 100), ylabel="pseudo-label accuracy (%)")
    ax1.set_title(f"σ = {view.sigma:.3g}, α = {view.alpha:.2f}: {100 * view.changed:.1f} % of argmaxes moved",
                  fontsize=9)
    rows = view.confusion / np.maximum(view.confusion.sum(1, keepdims=True), 1)
    ax2.imshow(rows, vmin=0, vmax=1, cmap="Blues")
    ax2.set(xlabel="predicted class", ylabel="true class")
    ax2.set_title("confusion after propagation (rows sum to 1)", fontsize=9)
    if class_names is not None and len(class_names) == len(rows) <= 20:
        ax2.set_yticks(range(len(rows)))
        ax2.set_yticklabels(class_names, fontsize=7)
    fig.tight_layout()
    return fig


# --- 2. the λ scheduler ------------------------------------------------------------------------

def lambda_trajectory(source_emb, target_emb, *, n_steps: int = 60, temperature: float = 0.05,
                      perturbation_range: float = 0.2, form: str = "active", n_mix: int = 10,
                      seed: int = 0) -> Dict[str, np.ndarray]:
    """Run :class:`~mifomo_lite.fsl.MixupScheduler` for ``n_steps`` on fixed embeddings: at every
    step draw λ̃ for ``n_mix`` random (source, target) pairs, mix them at the embedding level and
    update. Returns arrays ``step``, ``lambda`` (after each update), ``ramp`` (t/N), ``W_SM``,
    ``W_TM``, ``q`` and the sampling band ``low``/``high`` (λ ∓ σ_p before each step, clipped)."""
    from .fsl import MixupScheduler, sample_pairs

    if int(n_steps) < 1 or int(n_mix) < 1:
        raise ConfigError(f"n_steps and n_mix must be ≥ 1; got {n_steps} and {n_mix}")
    s, t = _emb(source_emb, "source_emb"), _emb(target_emb, "target_emb")
    if s.shape[1] != t.shape[1]:
        raise DataError(f"source_emb width {s.shape[1]} != target_emb width {t.shape[1]}")
    sched = MixupScheduler(perturbation_range=perturbation_range, temperature=temperature, form=form)
    g = torch.Generator().manual_seed(int(seed))
    band = []
    for step in range(int(n_steps)):
        band.append((max(sched.lam - sched.perturbation_range, 0.0), min(sched.lam + sched.perturbation_range, 1.0)))
        ia, ib = sample_pairs(len(s), len(t), int(n_mix), generator=g)
        lam = sched.sample(int(n_mix), generator=g).double()[:, None]
        sched.update(step, int(n_steps), s, t, lam * s[ia] + (1 - lam) * t[ib])
    tr = sched.trajectory
    out = {k: np.array([r[k] for r in tr]) for k in ("step", "lambda", "W_SM", "W_TM", "q")}
    out["ramp"] = out["step"] / int(n_steps)
    out["low"], out["high"] = np.array(band).T
    return out


def draw_lambda(fig, traj: Dict[str, np.ndarray], title: str = ""):
    """λ with its sampling band and the ramp t/N (left); W_SM, W_TM and q (right)."""
    ax1, ax2 = fig.subplots(1, 2)
    ax1.fill_between(traj["step"], traj["low"], traj["high"], color="tab:blue", alpha=0.15, label="λ ± σ_p (draws)")
    ax1.plot(traj["step"], traj["lambda"], color="tab:blue", label="λ")
    ax1.plot(traj["step"], traj["ramp"], ":", color="grey", label="ramp t/N")
    ax1.set(ylim=(-0.02, 1.02), xlabel="step")
    ax1.legend(fontsize=8, loc="upper left")
    ax1.set_title(title or f"final λ = {traj['lambda'][-1]:.3f}", fontsize=9)
    ax2.plot(traj["step"], traj["W_SM"], color="tab:blue", label="W(S, M)")
    ax2.plot(traj["step"], traj["W_TM"], color="tab:red", label="W(T, M)")
    ax2.set(xlabel="step", ylabel="1-Wasserstein distance")
    ax3 = ax2.twinx()
    ax3.semilogy(traj["step"], np.maximum(traj["q"], 1e-12), "--", color="k", lw=0.8, label="q (right axis)")
    ax3.set_ylabel("q (log)")
    ax2.legend(handles=ax2.lines + ax3.lines, fontsize=8, loc="center right")
    fig.tight_layout()
    return fig


# --- 3. learning rate --------------------------------------------------------------------------

@dataclass
class LearningCurve:
    """Support loss, support accuracy and query accuracy after each of ``steps`` AdamW steps
    (index 0: before the first step)."""

    lr: float
    loss: np.ndarray
    support_acc: np.ndarray
    query_acc: np.ndarray


def lr_curve(support_emb, support_y, query_emb, query_y, *, lr: float = 1e-2, steps: int = 40,
             seed: int = 0) -> LearningCurve:
    """Train a linear head (a linear probe: ``logits = W·e + b`` on L2-normalised embeddings, ``W``
    and ``b`` from zero, so the loss starts at log C) with AdamW at ``lr`` on the support set, and
    score support and queries after every step: too small an ``lr`` barely moves, too large a one
    overshoots, and the five shots are always fitted faster than the queries improve."""
    if not lr > 0 or int(steps) < 1:
        raise ConfigError(f"lr must be > 0 and steps ≥ 1; got lr={lr}, steps={steps}")
    s = F.normalize(_emb(support_emb, "support_emb"), dim=1).float()
    q = F.normalize(_emb(query_emb, "query_emb"), dim=1).float()
    sy, qy = _labels(support_y, len(s), "support_y"), _labels(query_y, len(q), "query_y")
    torch.manual_seed(int(seed))
    head = torch.nn.Linear(s.shape[1], _classes(sy))
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    opt = torch.optim.AdamW(head.parameters(), lr=float(lr), weight_decay=0.0)
    loss, s_acc, q_acc = [], [], []
    for step in range(int(steps) + 1):
        logits = head(s)
        value = F.cross_entropy(logits, sy)
        with torch.no_grad():
            loss.append(float(value))
            s_acc.append(float((logits.argmax(1) == sy).double().mean()))
            q_acc.append(float((head(q).argmax(1) == qy).double().mean()))
        if step < int(steps):
            opt.zero_grad()
            value.backward()
            opt.step()
    return LearningCurve(float(lr), np.array(loss), np.array(s_acc), np.array(q_acc))


def draw_lr(fig, curve: LearningCurve):
    """The support loss (left) and the support / query accuracies (right) along the steps."""
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(curve.loss, color="tab:red")
    ax1.set(xlabel="step", ylabel="support cross-entropy")
    ax1.set_title(f"lr = {curve.lr:.1e}", fontsize=9)
    ax2.plot(100 * curve.support_acc, label="support (fitted)")
    ax2.plot(100 * curve.query_acc, label="queries (held out)")
    ax2.set(ylim=(0, 101), xlabel="step", ylabel="accuracy (%)")
    ax2.legend(fontsize=8)
    ax2.set_title(f"queries: {100 * curve.query_acc[0]:.1f} % → {100 * curve.query_acc[-1]:.1f} %", fontsize=9)
    fig.tight_layout()
    return fig


# --- 4. shots ----------------------------------------------------------------------------------

def _shot_draws(y: torch.Tensor, c: int, max_shots: int, n_draws: int, seed: int):
    """For each draw: the (C, max_shots) support indices (a seeded random order of every class)
    and the indices of the queries — every pixel outside the ``max_shots`` supports, so that all
    k are scored on the same queries."""
    rng = np.random.default_rng(int(seed))
    by_class = [torch.nonzero(y == k).reshape(-1) for k in range(c)]
    draws = []
    for _ in range(int(n_draws)):
        sup = torch.stack([ix[torch.as_tensor(rng.permutation(len(ix))[:max_shots])] for ix in by_class])
        mask = torch.ones(len(y), dtype=torch.bool)
        mask[sup.reshape(-1)] = False
        draws.append((sup, torch.nonzero(mask).reshape(-1)))
    return draws


def shots_view(emb, y, *, shots: int = 5, max_shots: Optional[int] = None, n_draws: int = 5, seed: int = 0,
               propagate: bool = False, sigma: Any = "median", alpha: float = 0.9,
               max_queries: int = 2000) -> Dict[str, Any]:
    """Prototype accuracy against the number of shots per class on a labelled pool ``emb``/``y``.

    Each of ``n_draws`` seeded draws orders every class at random; the first k pixels of each class
    are the support (k = 1..``max_shots``; ``None``: up to 20, less than the smallest class) and
    every pixel outside the first ``max_shots`` is a
    query (a seeded subset of at most ``max_queries`` of them, to keep a redraw fast), the same
    queries for every k. Returns the (max_shots, n_draws) accuracy ``curve``, the per-class
    accuracy at k = ``shots`` and, with ``propagate``, the accuracy after label propagation at
    k = ``shots``."""
    x = _emb(emb, "emb")
    yy = _labels(y, len(x), "y")
    c = _classes(yy)
    smallest = int(torch.bincount(yy, minlength=c).min())
    max_shots = min(20, smallest - 1) if max_shots is None else max_shots
    if not 1 <= int(shots) <= int(max_shots) or int(max_shots) >= smallest:
        raise ConfigError(f"need 1 ≤ shots ≤ max_shots < the smallest class ({smallest} pixels); "
                          f"got shots={shots}, max_shots={max_shots}")
    xn, k_max = F.normalize(x, dim=1).float(), int(max_shots)
    sigma = _median_sigma(x) if propagate and isinstance(sigma, str) and sigma == "median" else sigma
    curve, per_class, prop = np.zeros((k_max, int(n_draws))), np.zeros((int(n_draws), c)), []
    counts = torch.arange(1, k_max + 1, dtype=torch.float32)[:, None, None]
    for d, (sup, queries) in enumerate(_shot_draws(yy, c, k_max, int(n_draws), seed)):
        query = queries[torch.as_tensor(np.random.default_rng(int(seed) + d).permutation(len(queries))[:max_queries])]
        protos = F.normalize(xn[sup].cumsum(1).transpose(0, 1) / counts, dim=2)   # (k, C, D)
        curve[:, d] = (torch.einsum("nd,kcd->knc", xn[query], protos).argmax(2) == yy[query]).double().mean(1).numpy()
        hit = ((xn[queries] @ protos[int(shots) - 1].T).argmax(1) == yy[queries]).numpy()   # all queries at k
        per_class[d] = np.bincount(yy[queries].numpy(), weights=hit, minlength=c) / \
            np.bincount(yy[queries].numpy(), minlength=c)
        if propagate:
            s_idx = sup[:, :int(shots)].reshape(-1)
            prop.append(propagation_view(x[s_idx], yy[s_idx], x[query], yy[query], sigma=sigma, alpha=alpha).propagated)
    return {"shots": int(shots), "k": np.arange(1, k_max + 1), "curve": curve,
            "per_class": per_class.mean(0), "propagated": float(np.mean(prop)) if prop else None}


def draw_shots(fig, view: Dict[str, Any]):
    """Mean ± std accuracy against k, the chosen k marked (left); per-class accuracy at k (right)."""
    from matplotlib.ticker import MaxNLocator

    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    m, sd = 100 * view["curve"].mean(1), 100 * view["curve"].std(1)
    ax1.fill_between(view["k"], m - sd, m + sd, alpha=0.2)
    ax1.plot(view["k"], m, "o-", ms=3, label="prototypes")
    k = view["shots"]
    ax1.axvline(k, color="k", lw=0.8, ls=":")
    if view["propagated"] is not None:
        ax1.plot([k], [100 * view["propagated"]], "*", ms=12, color="tab:green", label="+ propagation")
    ax1.set(xlabel="shots per class k", ylabel="query accuracy (%)")
    ax1.legend(fontsize=8)
    ax1.set_title(f"k = {k}: {m[k - 1]:.1f} ± {sd[k - 1]:.1f} % over {view['curve'].shape[1]} draws", fontsize=9)
    ax2.bar(np.arange(len(view["per_class"])), 100 * view["per_class"])
    ax2.set(ylim=(0, 100), xlabel="class", ylabel=f"accuracy at k = {k} (%)")
    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


# --- front ends --------------------------------------------------------------------------------

def _explore(draw: Callable[..., Any], controls: Dict[str, Any], figsize=(10, 3.6)):
    """Run ``draw(fig, **values)`` once (batch mode: a static figure, returns ``None``) or build a
    widget whose sliders ``controls`` (name → ipywidgets control factory taking ``w``) redraw it."""
    import matplotlib.pyplot as plt

    from .notebooks import batch_mode

    try:
        if batch_mode():
            raise ImportError
        import ipywidgets as w
    except ImportError:
        made = {name: make(None) for name, make in controls.items()}
        draw(plt.figure(figsize=figsize), **made)
        plt.show()
        print("(static view — run the notebook in Jupyter or Colab to move the sliders)")
        return None
    widgets = {name: make(w) for name, make in controls.items()}
    out = w.Output()

    def redraw(*_):
        with out:
            out.clear_output(wait=True)
            draw(plt.figure(figsize=figsize), **{n: c.value for n, c in widgets.items()})
            plt.show()

    for c in widgets.values():
        c.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox(list(widgets.values())), out])


def _slider(kind: str, value, description: str, **limits):
    """A control factory: the widget when given ipywidgets, else the plain initial value."""
    def make(w):
        if w is None:
            return value
        extra = {} if kind == "Dropdown" else {"continuous_update": False}
        return getattr(w, kind)(value=value, description=description, style={"description_width": "initial"},
                                **extra, **limits)
    return make


def propagation_explorer(support_emb, support_y, query_emb, query_y, *, sigma: Any = "median", alpha: float = 0.9,
                         batch_size: Optional[int] = 80, class_names=None):
    """Sliders for σ (log scale; ``"median"`` starts at the median cosine distance) and α of label
    propagation over cached embeddings."""
    sigma = _median_sigma(support_emb, query_emb) if sigma == "median" else sigma

    def draw(fig, sigma, alpha):
        draw_propagation(fig, propagation_view(support_emb, support_y, query_emb, query_y, sigma=sigma,
                                               alpha=alpha, batch_size=batch_size), class_names)
    return _explore(draw, {"sigma": _slider("FloatLogSlider", float(sigma), "σ", base=10, min=-2.5, max=2),
                           "alpha": _slider("FloatSlider", float(alpha), "α", min=0.0, max=0.99, step=0.01)})


def lambda_explorer(source_emb, target_emb, *, n_steps: int = 60, temperature: float = 0.05,
                    perturbation_range: float = 0.2, form: str = "active", n_mix: int = 10, seed: int = 0):
    """Sliders for τ, σ_p and the number of steps, and the form of the λ scheduler."""
    def draw(fig, temperature, perturbation_range, n_steps, form):
        draw_lambda(fig, lambda_trajectory(source_emb, target_emb, n_steps=n_steps, temperature=temperature,
                                           perturbation_range=perturbation_range, form=form, n_mix=n_mix,
                                           seed=seed))
    return _explore(draw, {
        "temperature": _slider("FloatLogSlider", float(temperature), "τ", base=10, min=-3, max=1),
        "perturbation_range": _slider("FloatSlider", float(perturbation_range), "σ_p", min=0.0, max=0.5, step=0.01),
        "n_steps": _slider("IntSlider", int(n_steps), "steps", min=5, max=150),
        "form": _slider("Dropdown", form, "form", options=["active", "commented"])})


def lr_explorer(support_emb, support_y, query_emb, query_y, *, lr: float = 1e-2, steps: int = 40):
    """A log slider for the learning rate (and one for the steps) of :func:`lr_curve`."""
    def draw(fig, lr, steps):
        draw_lr(fig, lr_curve(support_emb, support_y, query_emb, query_y, lr=lr, steps=steps))
    return _explore(draw, {"lr": _slider("FloatLogSlider", float(lr), "learning rate", base=10, min=-5, max=0),
                           "steps": _slider("IntSlider", int(steps), "steps", min=5, max=200)})


def shots_explorer(emb, y, *, shots: int = 5, max_shots: Optional[int] = None, n_draws: int = 5, seed: int = 0,
                   propagate: bool = True, sigma: Any = "median", alpha: float = 0.9):
    """A slider for the number of shots per class of :func:`shots_view`."""
    if max_shots is None:
        max_shots = min(20, int(np.bincount(np.asarray(y).reshape(-1)).min()) - 1)

    def draw(fig, shots):
        draw_shots(fig, shots_view(emb, y, shots=shots, max_shots=max_shots, n_draws=n_draws, seed=seed,
                                   propagate=propagate, sigma=sigma, alpha=alpha))
    return _explore(draw, {"shots": _slider("IntSlider", int(shots), "shots per class", min=1, max=int(max_shots))})
