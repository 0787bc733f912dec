"""Training engine, run store, profiles and CLI (issue #6).

* :class:`RunConfig`, :func:`make_config`, :data:`PROFILES` -- what to train;
* :func:`train_or_load` -> :class:`Run` -- train, resume or load from the run store;
* :mod:`avsnn.train.ddp` -- the same engine under ``torchrun`` (DDP);
* :func:`add_train_parser` -- the ``train`` / ``show`` subcommands;
* :func:`run_key`, :func:`code_fingerprint` -- a run's folder name (config + data + code) and the code part.
"""

from .cli import add_train_parser
from .config import RunConfig
from .loop import Run, TrainingDiverged, train_or_load
from .profiles import PROFILES, make_config
from .store import RunStore, code_fingerprint, run_key

__all__ = [
    "RunConfig",
    "make_config",
    "PROFILES",
    "train_or_load",
    "Run",
    "TrainingDiverged",
    "add_train_parser",
    "RunStore",
    "run_key",
    "code_fingerprint",
]
