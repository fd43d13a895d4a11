"""Few-shot splits and episodes.

Two tools, matching the two ways MIFOMO draws labelled pixels (SPEC §2.1):

* :func:`few_shot_split` — the **evaluation** split of a target scene: ``n_shot`` labelled pixels
  per class are the *support set*; *every other* labelled pixel is the query (test) set. Houston
  2013 draws its support from ``mask_train`` and uses the whole ``mask_test`` as the query set.
  MIFOMO repeats this for 20 test episodes seeded 0..19.
* :class:`EpisodeSampler` — **training** episodes in the spirit of easyfsl's ``TaskSampler``
  (Bennequin, github.com/sicara/easy-few-shot-learning): each episode picks ``n_way`` classes
  (``"all"`` = every class, as MIFOMO does), ``n_shot`` support and ``n_query`` query pixels per
  class, and re-indexes the chosen classes 0..n_way−1.

Both return pixel *coordinates* plus 0-based labels; combine them with a
:class:`~mifomo_lite.data.preprocess.PreparedScene` to get patch tensors for the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..errors import EpisodeError
from .preprocess import PreparedScene
from .scene import Scene


def _class_label(c: int, names: Optional[Sequence[str]], original_ids: Optional[Sequence[int]]
                 ) -> str:
    """Readable name of 0-based class ``c`` for error messages, numbered as ``data info`` prints
    it (label ``c + 1``, and the id in the original file)."""
    name = names[c] if names is not None and c < len(names) else f"class {c + 1}"
    orig = (f", original id {int(original_ids[c])}"
            if original_ids is not None and c < len(original_ids) else "")
    return f"{name!r} (label {c + 1}{orig})"


# ------------------------------------------------------------------------------ few-shot split
@dataclass
class FewShotSplit:
    """Support/query pixels of one few-shot evaluation episode.

    ``*_rows``/``*_cols`` are pixel coordinates, ``*_labels`` 0-based class ids (0..C−1). The
    support set is ordered class by class (``n_shot`` pixels each); the query set in row-major
    image order.
    """

    support_rows: np.ndarray
    support_cols: np.ndarray
    support_labels: np.ndarray
    query_rows: np.ndarray
    query_cols: np.ndarray
    query_labels: np.ndarray
    n_classes: int
    n_shot: int
    seed: int
    class_names: Optional[List[str]] = None

    @property
    def support_coords(self) -> np.ndarray:
        """(n_support, 2) array of (row, col)."""
        return np.stack([self.support_rows, self.support_cols], axis=1)

    @property
    def query_coords(self) -> np.ndarray:
        return np.stack([self.query_rows, self.query_cols], axis=1)

    @property
    def n_support(self) -> int:
        return int(self.support_rows.size)

    @property
    def n_query(self) -> int:
        return int(self.query_rows.size)

    def support_tensors(self, prepared: PreparedScene, *, device: Any = None
                        ) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)``: (n_way·n_shot, C, w, w) float32 patches and int64 labels."""
        x = prepared.patches(self.support_rows, self.support_cols, device=device)
        y = torch.as_tensor(self.support_labels, dtype=torch.long, device=device)
        return x, y

    def query_batches(self, prepared: PreparedScene, batch_size: int = 1024, *,
                      device: Any = None) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x, y)`` query batches — the query set of a large scene is never materialised
        in one tensor."""
        for sl, x in prepared.iter_batches(self.query_rows, self.query_cols, batch_size,
                                           device=device):
            yield x, torch.as_tensor(self.query_labels[sl], dtype=torch.long, device=device)


def _as_label_maps(scene_or_labels: Any) -> Tuple[np.ndarray, Optional[np.ndarray],
                                                  Optional[np.ndarray], Optional[List[str]],
                                                  Optional[np.ndarray]]:
    if isinstance(scene_or_labels, Scene):
        s = scene_or_labels
        return s.labels, s.train_mask, s.test_mask, list(s.class_names), s.original_ids
    if isinstance(scene_or_labels, PreparedScene):
        p = scene_or_labels
        if p.labels is None:
            raise EpisodeError(f"prepared scene {p.name!r} has no labels")
        return p.labels, p.train_mask, p.test_mask, p.class_names, None
    labels = np.asarray(scene_or_labels)
    if labels.ndim != 2:
        raise EpisodeError(f"expected a Scene or an (H, W) label map, got shape {labels.shape}")
    return labels.astype(np.int64), None, None, None, None


def few_shot_split(scene_or_labels: Any, n_shot: int = 5, seed: int = 0, *,
                   use_masks: Optional[bool] = None,
                   class_names: Optional[Sequence[str]] = None) -> FewShotSplit:
    """Draw ``n_shot`` support pixels per class; all remaining labelled pixels are queries.

    Args:
        scene_or_labels: a :class:`Scene`, a :class:`PreparedScene` or an (H, W) label map
            (0 = unlabelled, classes 1..C).
        n_shot: support pixels per class (MIFOMO: 5).
        seed: the draw is a pure function of ``seed`` (MIFOMO seeds test episode e with e).
        use_masks: use ``train_mask`` for the support pool and all of ``test_mask`` as the query
            (Houston). Default: whenever the scene has both masks.

    Raises:
        EpisodeError: a class has fewer than ``n_shot + 1`` labelled pixels (or, with masks,
            fewer than ``n_shot`` training / no test pixels) — the message names the class.
    """
    if int(n_shot) < 1:
        raise EpisodeError(f"n_shot must be at least 1, not {n_shot}")
    n_shot = int(n_shot)
    labels, train, test, names, orig = _as_label_maps(scene_or_labels)
    if class_names is not None:
        names = list(class_names)
    if use_masks is None:
        use_masks = train is not None and test is not None
    if use_masks and (train is None or test is None):
        raise EpisodeError("use_masks=True but the scene has no train/test masks")
    pool_map = train if use_masks else labels
    n_classes = len(names) if names is not None else int(labels.max())
    pool_r, pool_c = np.nonzero(pool_map)
    pool_y = pool_map[pool_r, pool_c] - 1
    test_counts = (np.bincount(test.ravel(), minlength=n_classes + 1)[1:] if use_masks
                   else None)
    picks = _draw_support(np.random.default_rng(seed), pool_y, n_classes, n_shot, test_counts,
                          lambda c: _class_label(c, names, orig))
    if use_masks:
        q_r, q_c = np.nonzero(test)
        q_y = test[q_r, q_c] - 1
    else:
        chosen = np.zeros(pool_r.size, dtype=bool)
        for pick in picks:
            chosen[pick] = True
        q_r, q_c, q_y = pool_r[~chosen], pool_c[~chosen], pool_y[~chosen]
    return FewShotSplit(
        support_rows=np.concatenate([pool_r[p] for p in picks]).astype(np.int64),
        support_cols=np.concatenate([pool_c[p] for p in picks]).astype(np.int64),
        support_labels=np.concatenate([np.full(n_shot, c, dtype=np.int64)
                                       for c in range(n_classes)]),
        query_rows=q_r.astype(np.int64), query_cols=q_c.astype(np.int64),
        query_labels=q_y.astype(np.int64), n_classes=n_classes, n_shot=n_shot, seed=int(seed),
        class_names=names)


def _draw_support(rng: np.random.Generator, pool_y: np.ndarray, n_classes: int, n_shot: int,
                  test_counts: Optional[np.ndarray], label: Callable[[int], str]
                  ) -> List[np.ndarray]:
    """Indices into the pool of ``n_shot`` support pixels per class, class by class.

    ``test_counts`` (test-mask pixels per class) is given when the query set is a separate test
    mask: the pool then needs only ``n_shot`` pixels per class, otherwise ``n_shot + 1`` so that
    every class keeps at least one query pixel. ``label(c)`` names class ``c`` in errors.
    """
    use_masks = test_counts is not None
    picks = []
    for c in range(n_classes):
        idx = np.flatnonzero(pool_y == c)
        need = n_shot if use_masks else n_shot + 1
        if idx.size < need:
            where = "training-mask pixels" if use_masks else "labelled pixels"
            raise EpisodeError(
                f"class {label(c)} has only {idx.size} {where}; a "
                f"{n_shot}-shot split needs at least {need} (n_shot support"
                f"{'' if use_masks else ' + 1 query'}). Use fewer shots or drop the class.")
        if use_masks and test_counts[c] == 0:
            raise EpisodeError(f"class {label(c)} has no test-mask pixels")
        picks.append(rng.choice(idx, size=n_shot, replace=False))
    return picks


# ------------------------------------------------------------------------------ episode sampler
@dataclass
class Episode:
    """One few-shot episode.

    Attributes:
        classes: (n_way,) the pool class ids chosen (for a scene: its 0-based labels; for a
            ``(coords, class_ids)`` pool: those ids), sorted: episode label ``k`` is pool class
            ``classes[k]``.
        support_index, query_index: indices into the sampler's pixel pool.
        support_labels, query_labels: episode labels 0..n_way−1 (support is class-major:
            ``n_shot`` pixels of label 0, then label 1, ...; likewise the query).
        support_rows/cols, query_rows/cols: pixel coordinates.
        index: episode number; the episode is a pure function of (sampler seed, index).
    """

    classes: np.ndarray
    support_index: np.ndarray
    query_index: np.ndarray
    support_labels: np.ndarray
    query_labels: np.ndarray
    support_rows: np.ndarray
    support_cols: np.ndarray
    query_rows: np.ndarray
    query_cols: np.ndarray
    index: int
    class_names: Optional[List[str]] = None

    @property
    def n_way(self) -> int:
        return int(self.classes.size)

    def to_tensors(self, prepared: PreparedScene, *, device: Any = None
                   ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(support_x, support_y, query_x, query_y)`` ready for a prototypical network:
        x are (N, C, w, w) float32 patches, y int64 episode labels 0..n_way−1."""
        sx = prepared.patches(self.support_rows, self.support_cols, device=device)
        qx = prepared.patches(self.query_rows, self.query_cols, device=device)
        sy = torch.as_tensor(self.support_labels, dtype=torch.long, device=device)
        qy = torch.as_tensor(self.query_labels, dtype=torch.long, device=device)
        return sx, sy, qx, qy


class EpisodeSampler:
    """Seeded N-way K-shot episode sampler over labelled pixels.

    Args:
        pool: what to sample from — a :class:`Scene` / :class:`PreparedScene` (its labelled
            pixels; ``which="train"`` for the training mask), an (H, W) label map (0 =
            unlabelled), or a tuple ``(coords, class_ids)`` with (N, 2) pixel coordinates and
            (N,) integer class ids (any values; sorted unique ids form the class list).
        n_way: classes per episode, or ``"all"`` (MIFOMO uses all classes: 19 on Chikusei).
        n_shot: support pixels per class. n_query: query pixels per class.
        n_episodes: episodes per iteration (``len(sampler)``); ``None`` iterates forever.
        seed: episode ``i`` is drawn from ``np.random.default_rng([seed, i])``, so episodes are
            reproducible one by one (:meth:`episode`) and independent of iteration order.

    Raises:
        EpisodeError: ``n_way`` larger than the number of classes, or classes too small for
            ``n_shot + n_query`` (named in the message).

    Example::

        sampler = EpisodeSampler(scene, n_way="all", n_shot=5, n_query=15, seed=0)
        for episode in sampler:
            sx, sy, qx, qy = episode.to_tensors(prepared)
    """

    def __init__(self, pool: Any, n_way: Union[int, str] = "all", n_shot: int = 5,
                 n_query: int = 15, n_episodes: Optional[int] = 100, seed: int = 0, *,
                 which: str = "labels", class_names: Optional[Sequence[str]] = None) -> None:
        coords, ids, names = self._pool(pool, which)
        if class_names is not None:
            names = list(class_names)
        if int(n_shot) < 1 or int(n_query) < 0:
            raise EpisodeError(f"need n_shot ≥ 1 and n_query ≥ 0 (got {n_shot}, {n_query})")
        self.coords = coords
        self.classes, inverse = np.unique(ids, return_inverse=True)
        self.pool_labels = inverse.astype(np.int64)  # 0..n_classes-1 per pool pixel
        self.class_names = names
        self.n_shot, self.n_query = int(n_shot), int(n_query)
        self.n_episodes = None if n_episodes is None else int(n_episodes)
        self.seed = int(seed)
        n_classes = self.classes.size
        if n_classes == 0:
            raise EpisodeError("the pool has no labelled pixels")
        self._members = [np.flatnonzero(self.pool_labels == k) for k in range(n_classes)]
        need = self.n_shot + self.n_query
        small = [k for k in range(n_classes) if self._members[k].size < need]
        if n_way == "all":
            n_way = n_classes
        elif isinstance(n_way, str):
            raise EpisodeError(f"n_way must be an integer or 'all', not {n_way!r}")
        n_way = int(n_way)
        if n_way < 1:
            raise EpisodeError(f"n_way must be at least 1, not {n_way}")
        if n_way > n_classes:
            raise EpisodeError(f"n_way={n_way} is larger than the number of classes "
                               f"({n_classes}) in the pool")
        self.n_way = n_way
        self._eligible = np.array([k for k in range(n_classes) if k not in small], dtype=np.int64)
        if self._eligible.size < n_way:
            named = "; ".join(f"{self._name(k)} has {self._members[k].size}" for k in small)
            raise EpisodeError(
                f"{n_way}-way {self.n_shot}-shot episodes with {self.n_query} queries need "
                f"{need} pixels per class, but {len(small)} class(es) are smaller: {named}. "
                "Lower n_shot/n_query or n_way.")

    # ------------------------------------------------------------------------------- helpers
    def _name(self, k: int) -> str:
        cid = int(self.classes[k])
        if self.class_names is not None and 0 <= cid < len(self.class_names):
            return f"class {self.class_names[cid]!r} (label {cid + 1})"
        return f"class {cid + 1}"

    @staticmethod
    def _pool(pool: Any, which: str) -> Tuple[np.ndarray, np.ndarray, Optional[List[str]]]:
        if isinstance(pool, (Scene, PreparedScene)):
            rows, cols, y = pool.labelled_pixels(which)
            names = list(pool.class_names) if pool.class_names is not None else None
            return np.stack([rows, cols], axis=1), y, names
        if isinstance(pool, tuple) and len(pool) == 2:
            coords = np.asarray(pool[0], dtype=np.int64)
            ids = np.asarray(pool[1]).reshape(-1)
            if coords.ndim != 2 or coords.shape[1] != 2 or coords.shape[0] != ids.size:
                raise EpisodeError(f"expected coords (N, 2) and class ids (N,), got "
                                   f"{coords.shape} and {ids.shape}")
            return coords, ids.astype(np.int64), None
        labels = np.asarray(pool)
        if labels.ndim != 2:
            raise EpisodeError("pool must be a Scene, a PreparedScene, an (H, W) label map or "
                               "a (coords, class_ids) tuple")
        rows, cols = np.nonzero(labels)
        return np.stack([rows, cols], axis=1).astype(np.int64), labels[rows, cols] - 1, None

    # ------------------------------------------------------------------------------ sampling
    def episode(self, index: int) -> Episode:
        """Episode number ``index`` (deterministic given the sampler's seed)."""
        rng = np.random.default_rng([self.seed, int(index)])
        if self.n_way == self._eligible.size:
            chosen = self._eligible.copy()
        else:
            chosen = np.sort(rng.choice(self._eligible, size=self.n_way, replace=False))
        s_idx, q_idx = [], []
        for k in chosen:
            pick = rng.choice(self._members[k], size=self.n_shot + self.n_query, replace=False)
            s_idx.append(pick[:self.n_shot])
            q_idx.append(pick[self.n_shot:])
        s = np.concatenate(s_idx)
        q = np.concatenate(q_idx) if self.n_query else np.zeros(0, dtype=np.int64)
        way = np.arange(self.n_way, dtype=np.int64)
        return Episode(
            classes=self.classes[chosen].astype(np.int64), support_index=s, query_index=q,
            support_labels=np.repeat(way, self.n_shot), query_labels=np.repeat(way, self.n_query),
            support_rows=self.coords[s, 0], support_cols=self.coords[s, 1],
            query_rows=self.coords[q, 0], query_cols=self.coords[q, 1], index=int(index),
            class_names=([self.class_names[int(self.classes[k])] for k in chosen]
                         if self.class_names is not None else None))

    def __iter__(self) -> Iterator[Episode]:
        i = 0
        while self.n_episodes is None or i < self.n_episodes:
            yield self.episode(i)
            i += 1

    def __len__(self) -> int:
        if self.n_episodes is None:
            raise TypeError("this sampler is infinite (n_episodes=None)")
        return self.n_episodes

    def __repr__(self) -> str:
        return (f"EpisodeSampler(n_way={self.n_way}, n_shot={self.n_shot}, "
                f"n_query={self.n_query}, classes={self.classes.size}, "
                f"pixels={self.coords.shape[0]}, seed={self.seed})")
