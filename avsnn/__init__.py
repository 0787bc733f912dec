"""avsnn: spiking feature discrimination for audio-visual fusion (Oikonomou et al.).

The public names (:class:`LIF`, :class:`L2Classifier`, ...) come from :mod:`avsnn.core` on first
use (PEP 562), so ``import avsnn`` -- and ``avsnn --help`` -- does not import torch.
"""

import importlib as _importlib
from typing import TYPE_CHECKING

from . import isa as _isa

_isa.pin_environment()  # first: the CPU instruction-set pin must precede torch (see avsnn.isa)

if TYPE_CHECKING:  # the names __getattr__ serves, for type checkers and import-linter
    from .core import (
        LIF,
        L2Classifier,
        cosine_logits,
        count_targets,
        lemma1_first_step_winner,
        lemma2_membrane,
        mse_count_loss,
        surrogate,
        time_average,
    )

__version__ = "0.1.0"
__all__ = [
    "LIF",
    "L2Classifier",
    "mse_count_loss",
    "count_targets",
    "surrogate",
    "cosine_logits",
    "time_average",
    "lemma2_membrane",
    "lemma1_first_step_winner",
]


def __getattr__(name: str):
    """Import :mod:`avsnn.core` when one of :data:`__all__` is first used (PEP 562)."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    core = _importlib.import_module(".core", __name__)
    for public in __all__:
        globals()[public] = getattr(core, public)
    return globals()[name]


def __dir__():
    """The module's names, the lazily served ones included."""
    return sorted(set(globals()) | set(__all__))
