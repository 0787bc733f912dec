"""``train`` and ``show`` subcommands (registered on the main CLI by :func:`add_train_parser`).

    avsnn train --modality vision --data synthetic --profile default [--set lr=2e-3 ...] [--runs DIR] [--quiet]
    avsnn show RUN_FOLDER_OR_KEY [--runs DIR]

``train`` trains (or resumes, or finds in the run store) the configured run and prints its
folder (``<runs>/<run key>``) on the last line of stdout; ``metrics.json`` there holds at least
``test_accuracy`` (a fraction) and the ``separability`` summary. ``show`` takes that folder, its
run key, or a config hash (the newest run of that config).
"""

from __future__ import annotations

import argparse

from .profiles import MODALITIES, PROFILES, make_config

#: what ``--data`` takes: one name per dataset, as the book and the errors call them
DATA_HELP = (
    "avdigits (AV-Digits, the book's default), synthetic (the synthetic set, the default of this command; "
    "embedded is accepted for it) or a dataset folder "
    "(CIFAR10-AV, UrbanSound8K-AV or your own: vision/<class>/ + audio/<class>/)"
)
#: the run store default of ``--runs`` (:func:`avsnn.files.default_runs_dir`)
RUNS_HELP = "run store root (default: $AVSNN_RUNS, else the avsnn clone's runs/, else ./runs)"


def add_config_arguments(
    p: argparse.ArgumentParser,
    profile_help: str = "training preset (default: default)",
    set_help: str = "override a RunConfig field (repeatable; fusion: vision.KEY / audio.KEY)",
) -> None:
    """``--data``, ``--profile`` and ``--set KEY=VALUE``: what :func:`make_config` takes (``train``, ``baseline``)."""
    p.add_argument("--data", default="synthetic", metavar="DATA", help=DATA_HELP)
    p.add_argument("--profile", default="default", choices=tuple(PROFILES), help=profile_help)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=set_help)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``avsnn train`` (and of ``avsnn.train.ddp``): the config, the run store, quiet."""
    p.add_argument("--modality", required=True, choices=MODALITIES)
    add_config_arguments(p)
    p.add_argument("--runs", default=None, metavar="DIR", help=RUNS_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")


def add_train_parser(subparsers) -> None:
    """Register ``train`` and ``show`` on an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "train",
        help="train (or load from the run store) one model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_arguments(p)
    p.set_defaults(func=cmd_train)
    s = subparsers.add_parser("show", help="print a stored run's metrics, config and per-epoch history")
    s.add_argument("run", help="run folder, or a run key / config hash (or a unique prefix of one) inside --runs")
    s.add_argument("--runs", default=None, metavar="DIR", help=RUNS_HELP)
    s.set_defaults(func=cmd_show)


def config_from_args(args):
    """The :class:`RunConfig` of parsed run arguments (modality, profile, data, overrides)."""
    return make_config(args.modality, args.profile, args.data, args.overrides)


def cmd_train(args) -> int:
    """``avsnn train``: train, resume or load the run; print a labelled summary, the run folder last."""
    from avsnn.device import resolve_device

    from .engine import train_or_load
    from .store import RunStore
    from .summary import format_train_result, store_state

    cfg = config_from_args(args)
    state, detail = store_state(RunStore(cfg, args.runs))
    run = train_or_load(cfg, args.runs, progress=False if args.quiet else None, verbose=False if args.quiet else True)
    print(format_train_result(run, state, detail, device=str(resolve_device(cfg.device))))
    return 0


def cmd_show(args) -> int:
    """``avsnn show``: print a stored run's state, metrics (with the chance level), config and history."""
    from .summary import find_run, format_run

    print(format_run(find_run(args.run, args.runs)))
    return 0
