"""Seeding and determinism of the training engine.

The model is initialised after seeding ``torch``/``numpy``/``random`` with ``cfg.seed``. At the
start of every epoch all three are re-seeded from ``(seed, epoch)`` (:func:`epoch_seed`) and the
sample order is a ``torch.randperm`` drawn from a generator seeded the same way, so an epoch's
randomness (order, dropout masks) depends only on the seed and the epoch number -- never on what
ran before in the process. With :func:`deterministic` on the CPU, an interrupted run resumed from
its checkpoint ends with weights and metrics *equal* (bitwise) to an uninterrupted one. (On CUDA
some kernels are nondeterministic; results are close, not equal.)
"""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

__all__ = ["epoch_seed", "seed_everything", "rng_state", "deterministic"]


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` (0-based) of a run seeded with ``seed``."""
    return (int(seed) * 1_000_003 + 7919 * (int(epoch) + 1)) % (2**63 - 1)


def seed_everything(seed: int) -> None:
    """Seed ``random``, ``numpy`` and ``torch``."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The generator states of ``torch`` (and CUDA), ``numpy`` and ``random`` (saved in checkpoints)."""
    st = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "random": random.getstate()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


@contextlib.contextmanager
def deterministic(device: torch.device):
    """Deterministic algorithms (warn-only) on the CPU for the duration of the block; restored after."""
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)
