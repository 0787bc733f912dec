"""avsnn: spiking feature discrimination for audio-visual fusion (Oikonomou et al.)."""

import sys as _sys

from . import isa as _isa

_isa.pin_environment()  # before torch loads (see avsnn.isa)

from .core import (  # noqa: E402
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

_sys.modules[__name__ + ".surrogate"] = surrogate  # so `import avsnn.surrogate` works too

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
