"""Mixup inside an episode and across domains.

**mixup** (Zhang, Cisse, Dauphin & Lopez-Paz, "mixup: Beyond Empirical Risk Minimization", ICLR
2018) trains on convex combinations of pairs of samples and of their labels,
``x̃ = λ·x_i + (1-λ)·x_j`` and ``ỹ = λ·y_i + (1-λ)·y_j``, which regularises the classifier to
behave linearly between training points. MIFOMO (arXiv 2601.22581) uses it twice:

* **Embedding mixup inside an episode** (``L_mx``, phases 1 and the support-only step, SPEC §8.2,
  §8.3): random pairs of query embeddings of the *same* episode, drawn with replacement, one
  ``λ ~ Beta(α, α)`` with α = 2 per pair (a bell-shaped λ centred on 0.5), mixed one-hot labels,
  soft cross-entropy against the episode prototypes → :func:`embedding_mixup`.
* **Cross-domain mixup** (the intermediate domain, SPEC §8.6): pairs (source query *i*, target
  query *j*) with ``λ̃`` from the Wasserstein-driven scheduler
  (:class:`~mifomo_lite.fsl.scheduler.MixupScheduler`), mixed both at the *input* level (PCA patches)
  and at the *embedding* level with the same λ̃. Labels live in the joint space of
  ``n_source + n_target`` columns: a source label is its one-hot vector in the first ``n_source``
  columns, a target label (one-hot or a pseudo-label score vector) occupies the last ``n_target``
  columns → :func:`sample_pairs`, :func:`extend_label_space`, :func:`cross_domain_mixup`.

Random draws take an optional ``torch.Generator`` so that an episode is reproducible from its seed.
Beta variates are drawn by NumPy from a seed taken from that generator (torch's ``Beta`` cannot use
a generator); without a generator the seed comes from torch's global RNG, so
``torch.manual_seed`` still makes everything reproducible.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, DataError
from ._checks import check_2d, check_labels, check_same_rows


class MixupBatch(NamedTuple):
    """Result of :func:`embedding_mixup`: mixed embeddings, mixed labels, λ per pair, pair indices."""

    emb: torch.Tensor
    y: torch.Tensor
    lam: torch.Tensor
    index_a: torch.Tensor
    index_b: torch.Tensor


class CrossDomainMix(NamedTuple):
    """Result of :func:`cross_domain_mixup`: mixed samples and their joint-space soft labels."""

    x: torch.Tensor
    y: torch.Tensor


def _numpy_rng(generator: Optional[torch.Generator]) -> np.random.Generator:
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    return np.random.default_rng(seed)


def sample_beta(n: int, alpha: float = 2.0, beta: Optional[float] = None,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """``n`` draws of ``Beta(alpha, beta)`` (``beta`` defaults to ``alpha``) as a float32 tensor."""
    beta = alpha if beta is None else beta
    if alpha <= 0 or beta <= 0:
        raise ConfigError(f"Beta parameters must be > 0; got alpha={alpha}, beta={beta}")
    return torch.from_numpy(_numpy_rng(generator).beta(alpha, beta, size=int(n)).astype(np.float32))


def sample_pairs(n_a: int, n_b: int, n_pairs: int,
                 generator: Optional[torch.Generator] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Indices of ``n_pairs`` random pairs ``(i, j)``, ``i < n_a``, ``j < n_b``, drawn **with
    replacement** (as the released code does with ``torch.randint``)."""
    if n_a < 1 or n_b < 1:
        raise DataError(f"cannot draw mixup pairs from empty sets (n_a={n_a}, n_b={n_b})")
    if n_pairs < 0:
        raise ConfigError(f"n_pairs must be >= 0; got {n_pairs}")
    ia = torch.randint(0, n_a, (n_pairs,), generator=generator)
    ib = torch.randint(0, n_b, (n_pairs,), generator=generator)
    return ia, ib


def _mix(a: torch.Tensor, b: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    lam = lam.to(device=a.device, dtype=a.dtype).reshape(-1, *([1] * (a.dim() - 1)))
    return lam * a + (1.0 - lam) * b


def embedding_mixup(emb: torch.Tensor, y_onehot: torch.Tensor, n_pairs: int, alpha: float = 2.0,
                    generator: Optional[torch.Generator] = None) -> MixupBatch:
    """Same-episode embedding mixup (``L_mx`` of MIFOMO; Zhang et al. 2018).

    Draws ``n_pairs`` index pairs ``(i, j)`` over the rows of ``emb`` with replacement and one
    ``λ ~ Beta(alpha, alpha)`` per pair, and returns ``λ·e_i + (1-λ)·e_j`` with labels
    ``λ·y_i + (1-λ)·y_j``. ``y_onehot`` is ``[n, C]`` (one-hot or already soft); if it is a 1-D
    tensor of class ids it must be one-hot encoded by the caller first. Gradients flow into ``emb``.
    The released code uses 100 pairs in phase 1 and 10 in the support-only step (SPEC §8.2–8.3).
    """
    check_2d(emb, "emb")
    if y_onehot.dim() != 2:
        raise DataError(
            f"y_onehot must be 2-D [n, n_classes] (use torch.nn.functional.one_hot); got shape {tuple(y_onehot.shape)}"
        )
    check_same_rows(emb, y_onehot, "emb", "y_onehot")
    ia, ib = sample_pairs(emb.shape[0], emb.shape[0], n_pairs, generator)
    lam = sample_beta(n_pairs, alpha, generator=generator)
    ia_d, ib_d = ia.to(emb.device), ib.to(emb.device)
    y = y_onehot.to(device=emb.device, dtype=emb.dtype if emb.is_floating_point() else torch.float32)
    return MixupBatch(
        emb=_mix(emb[ia_d], emb[ib_d], lam),
        y=_mix(y[ia_d], y[ib_d], lam),
        lam=lam.to(emb.device),
        index_a=ia,
        index_b=ib,
    )


def _as_label_matrix(y: torch.Tensor, n: Optional[int], name: str, n_name: str) -> torch.Tensor:
    if y.dim() == 1:
        if n is None:
            raise ConfigError(f"{name} holds class ids, so {n_name} must be given to one-hot encode it")
        return F.one_hot(check_labels(y, n, name), n).float()
    if y.dim() != 2:
        raise DataError(f"{name} must be class ids [n] or label vectors [n, {n_name}]; got shape {tuple(y.shape)}")
    if n is not None and y.shape[1] != n:
        raise DataError(f"{name} has {y.shape[1]} columns but {n_name}={n}")
    return y.float() if not y.is_floating_point() else y


def extend_label_space(y_s: torch.Tensor, y_t: torch.Tensor, n_source: Optional[int] = None,
                       n_target: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Put source and target labels in the joint ``n_source + n_target`` label space (SPEC §8.6).

    ``y_s``: source class ids or ``[n, n_source]`` vectors → ``[y_s, zeros(n_target)]``.
    ``y_t``: target class ids or ``[n, n_target]`` vectors (one-hot, LGC scores, ...) →
    ``[zeros(n_source), y_t]``. Returns the two ``[n, n_source + n_target]`` float matrices."""
    ys = _as_label_matrix(torch.as_tensor(y_s), n_source, "y_s", "n_source")
    yt = _as_label_matrix(torch.as_tensor(y_t), n_target, "y_t", "n_target")
    ns, nt = ys.shape[1], yt.shape[1]
    ys_ext = torch.cat([ys, ys.new_zeros(ys.shape[0], nt)], dim=1)
    yt_ext = torch.cat([yt.new_zeros(yt.shape[0], ns), yt], dim=1)
    return ys_ext, yt_ext.to(ys_ext.dtype)


def cross_domain_mixup(x_s: torch.Tensor, y_s: torch.Tensor, x_t: torch.Tensor, y_t: torch.Tensor,
                       lambdas: Union[float, torch.Tensor], n_source: Optional[int] = None,
                       n_target: Optional[int] = None) -> CrossDomainMix:
    """Mix paired source and target samples: ``x̃ = λ·x_s + (1-λ)·x_t``, ``ỹ = λ·y_s + (1-λ)·y_t``.

    Row *k* of ``x_s`` is mixed with row *k* of ``x_t`` using ``lambdas[k]`` (or one scalar λ for
    all rows), so pick the pairs first with :func:`sample_pairs` and index both sets. Works on any
    sample shape: embeddings ``[n, D]`` or input patches ``[n, C, H, W]`` (λ is broadcast over the
    trailing dimensions), which is how MIFOMO mixes both levels with the same λ̃. Labels are placed
    in the joint label space by :func:`extend_label_space`: ``ỹ`` has ``n_source + n_target``
    columns, source one-hot first, target vectors after (λ weights the source, so λ = 0 is pure
    target, the scheduler's starting point). Target vectors are mixed as given — raw LGC scores stay
    unnormalised, as in the released code.
    """
    if x_s.shape != x_t.shape:
        raise DataError(
            f"x_s has shape {tuple(x_s.shape)} but x_t has {tuple(x_t.shape)}; paired samples must match "
            "(for inputs: same channels after preprocessing and same patch size)"
        )
    n = x_s.shape[0]
    lam = torch.as_tensor(lambdas, dtype=torch.float32)
    if lam.dim() == 0:
        lam = lam.expand(n)
    if lam.shape != (n,):
        raise DataError(f"lambdas must be a scalar or have shape ({n},); got {tuple(lam.shape)}")
    if bool(((lam < 0) | (lam > 1)).any()):
        raise ConfigError(f"lambdas must lie in [0, 1]; got min {float(lam.min())}, max {float(lam.max())}")
    ys_ext, yt_ext = extend_label_space(y_s, y_t, n_source, n_target)
    if ys_ext.shape[0] != n or yt_ext.shape[0] != n:
        raise DataError(f"got {n} sample pairs but {ys_ext.shape[0]} source and {yt_ext.shape[0]} target labels")
    x = _mix(x_s, x_t, lam)
    y = _mix(ys_ext.to(x_s.device), yt_ext.to(x_s.device), lam)
    return CrossDomainMix(x=x, y=y)
