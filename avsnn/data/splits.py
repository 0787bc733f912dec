"""Train/test splits of a scanned folder: deterministic per class, grouped by source recording."""

from __future__ import annotations

import random

from .scan import ReleaseIndex
from .source_groups import source_group

SPLITS = ("train", "test")


def make_split(index: ReleaseIndex, train_frac: float = 0.7, seed: int = 0, group_by_source: bool = True) -> dict:
    """Deterministic per-class split: ``{key: "train" | "test"}``.

    Within each class the sorted groups are shuffled with a RNG seeded by ``(seed, class name)``
    and whole groups go to train until ``round(train_frac * n)`` samples are reached (at least one
    sample on each side when ``n >= 2``). With ``group_by_source`` (default) a group is the source
    recording of :func:`source_group`, so the slices of one UrbanSound8K recording never sit on
    both sides (a known leak of random splits on that dataset), across classes too; other names
    are groups of one, which gives a plain per-class split.
    """
    if not 0.0 < float(train_frac) < 1.0:
        raise ValueError(f"train_frac must be in (0, 1), got {train_frac!r}")
    group = source_group if group_by_source else (lambda k: k)
    per_class: dict = {}
    for s in index.samples:
        per_class.setdefault(s.class_name, {}).setdefault(group(s.key), []).append(s.key)
    side: dict = {}  # group -> "train" | "test", shared by all classes
    split = {}
    for c, groups in sorted(per_class.items()):
        n = sum(len(v) for v in groups.values())
        n_train = int(round(train_frac * n))
        if n >= 2:
            n_train = min(max(n_train, 1), n - 1)
        order = sorted(groups)
        random.Random(f"{seed}/{c}").shuffle(order)
        taken = sum(len(groups[g]) for g in order if side.get(g) == "train")
        for g in order:
            if g not in side:
                side[g] = "train" if taken < n_train else "test"
                taken += len(groups[g]) if side[g] == "train" else 0
            for k in groups[g]:
                split[k] = side[g]
    return {s.key: split[s.key] for s in index.samples}
