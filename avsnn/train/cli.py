"""``train`` and ``show`` subcommands (registered on the main CLI by :func:`add_train_parser`).

    avsnn train --modality vision --data embedded --profile default [--set lr=2e-3 ...] [--runs DIR] [--quiet]
    avsnn show RUN_FOLDER_OR_KEY [--runs DIR]

``train`` trains (or resumes, or finds in the run store) the configured run and prints its
folder (``<runs>/<run key>``) on the last line of stdout; ``metrics.json`` there holds at least
``test_accuracy`` (a fraction) and the ``separability`` summary. ``show`` takes that folder, its
run key, or a config hash (the newest run of that config).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .profiles import MODALITIES, PROFILES, make_config


def add_config_arguments(
    p: argparse.ArgumentParser,
    profile_help: str = "training preset (default: default)",
    set_help: str = "override a RunConfig field (repeatable; fusion: vision.KEY / audio.KEY)",
) -> None:
    """``--data``, ``--profile`` and ``--set KEY=VALUE``: what :func:`make_config` takes (``train``, ``baseline``)."""
    p.add_argument("--data", default="embedded", help='"embedded" (default) or a dataset folder / release name')
    p.add_argument("--profile", default="default", choices=tuple(PROFILES), help=profile_help)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=set_help)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``avsnn train`` (and of ``avsnn.train.ddp``): the config, the run store, quiet."""
    p.add_argument("--modality", required=True, choices=MODALITIES)
    add_config_arguments(p)
    p.add_argument("--runs", default=None, help="run store root (default $AVSNN_RUNS or ./runs)")
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
    s = subparsers.add_parser("show", help="print a stored run's config and metrics summary")
    s.add_argument("run", help="run folder, or a run key / config hash inside --runs")
    s.add_argument("--runs", default=None)
    s.set_defaults(func=cmd_show)


def config_from_args(args):
    """The :class:`RunConfig` of parsed run arguments (modality, profile, data, overrides)."""
    return make_config(args.modality, args.profile, args.data, args.overrides)


def cmd_train(args) -> int:
    """``avsnn train``: train (or load) the run; print its test accuracy, separability and folder."""
    cfg = config_from_args(args)
    run = train_or_load(cfg, args.runs, progress=False if args.quiet else None, verbose=False if args.quiet else True)
    m = run.metrics
    sep = m.get("separability", {}).get("test", {})
    print(
        f"test_accuracy {m.get('test_accuracy', float('nan')):.4f}  "
        f"separability(test) inter/intra {sep.get('ratio', float('nan')):.3f}"
    )
    print(run.path)
    return 0


def _resolve_run(arg: str, runs) -> Path:
    p, root = Path(arg), default_root(runs)
    for q in (p, root / arg):
        if (q / "config.json").exists():
            return q
    matches = []  # a config hash: the runs of that config (several after data or code changes)
    for q in root.glob("*/config.json") if root.is_dir() else ():
        try:
            if read_json_file(q).get("config_hash") == arg:
                matches.append(q.parent)
        except ValueError:  # a damaged config.json is not this run's concern
            continue
    if matches:
        return max(matches, key=lambda q: (q / "config.json").stat().st_mtime_ns)
    raise FileNotFoundError(f"no run folder at {p}, and no run with key or config hash {arg!r} in {root}")


def cmd_show(args) -> int:
    """``avsnn show``: print a stored run's modality, profile, state (done or damaged) and metrics."""
    path = _resolve_run(args.run, args.runs)
    cfg = read_json_file(path / "config.json")
    done = (path / "DONE").exists()
    problems = verify_run(path) if done else {}
    state = f"damaged ({describe_problems(problems)}; train repairs it)" if problems else f"done {done}"
    print(f"run {path}  modality {cfg['modality']}  profile {cfg.get('profile')}  {state}")
    m = None if "metrics.json" in problems else read_json_file(path / "metrics.json")
    if m is not None:
        keys = (
            "test_accuracy",
            "train_accuracy",
            "epochs",
            "train_seconds",
            "sops",
            "params",
            "config_hash",
            "data_fingerprint",
            "code_fingerprint",
        )
        for k in keys:
            if k in m:
                print(f"  {k:17s} {m[k]}")
        for split, s in m.get("separability", {}).items():
            print(f"  separability {split:5s} intra {s['intra']:.4f} inter {s['inter']:.4f} ratio {s['ratio']:.3f}")
    return 0
