"""Training engine, run store, profiles and CLI (issue #6).

* :class:`RunConfig`, :func:`make_config`, :data:`PROFILES` -- what to train (:mod:`.config`, :mod:`.profiles`);
* :func:`train_or_load` -> :class:`Run` -- train, resume or load from the run store (:mod:`.engine`, :mod:`.run`);
* :func:`build_model`, :func:`load_datasets`, :func:`split_validation` -- what a config builds (:mod:`.factories`);
* :mod:`.fit` -- the epoch loop and the recipe; :mod:`.seeding` -- determinism;
* :func:`unimodal_features`, :func:`fusion_data` -- the fusion inputs (:mod:`.features`);
* :mod:`avsnn.train.ddp` -- the same engine under ``torchrun`` (DDP);
* :func:`add_train_parser` -- the ``train`` / ``show`` subcommands;
* :func:`run_key`, :func:`code_fingerprint` -- a run's folder name (config + data + code) and the code part.
"""

from typing import TYPE_CHECKING

from avsnn.lazy import lazy_exports

if TYPE_CHECKING:  # what __getattr__ serves, for type checkers and import-linter
    from .cli import add_train_parser
    from .config import RunConfig
    from .engine import fusion_data, load_finished, train_or_load
    from .factories import build_model, load_datasets, split_validation
    from .features import unimodal_features
    from .fit import TrainingDiverged
    from .profiles import PROFILES, make_config
    from .run import Run
    from .store import RunStore, code_fingerprint, run_key

#: public name -> the submodule defining it
_WHERE = {
    "add_train_parser": ".cli",
    "RunConfig": ".config",
    "fusion_data": ".engine",
    "train_or_load": ".engine",
    "load_finished": ".engine",
    "build_model": ".factories",
    "load_datasets": ".factories",
    "split_validation": ".factories",
    "unimodal_features": ".features",
    "TrainingDiverged": ".fit",
    "PROFILES": ".profiles",
    "make_config": ".profiles",
    "Run": ".run",
    "RunStore": ".store",
    "code_fingerprint": ".store",
    "run_key": ".store",
}

__all__ = [
    "RunConfig",
    "make_config",
    "PROFILES",
    "train_or_load",
    "load_finished",
    "Run",
    "TrainingDiverged",
    "build_model",
    "load_datasets",
    "split_validation",
    "unimodal_features",
    "fusion_data",
    "add_train_parser",
    "RunStore",
    "run_key",
    "code_fingerprint",
]


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, __all__)
