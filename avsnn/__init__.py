"""avsnn: spiking feature discrimination for audio-visual fusion (Oikonomou et al.).

The public names (:class:`LIF`, :class:`L2Classifier`, ...) come from :mod:`avsnn.core` on first
use (PEP 562), so ``import avsnn`` -- and ``avsnn --help`` -- does not import torch.
"""

from typing import TYPE_CHECKING

from . import isa as _isa
from .lazy import lazy_exports as _lazy_exports

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


__getattr__, __dir__ = _lazy_exports(__name__, dict.fromkeys(__all__, ".core"), __all__)
