"""``avsnn bench`` / ``python -m avsnn.bench``: the benchmark's command line."""

from __future__ import annotations

import argparse
import json
import sys

from avsnn.device import DEVICES
from avsnn.files import atomic_write_bytes, check_output_file

__all__ = ["add_bench_parser", "cmd_bench", "main"]


def add_bench_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``bench`` on an ``argparse`` subparsers object (used by the main ``avsnn`` CLI)."""
    p = subparsers.add_parser(
        "bench",
        help="time a training step: avsnn vs ANN floor vs snnTorch idiom",
        description=sys.modules[__package__].__doc__.split("\n\n")[0],
    )
    p.add_argument("--width", type=int, default=16, help="ResNet base width (paper: 64)")
    p.add_argument("--timesteps", "-T", type=int, default=4)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=10, help="timed steps per network (median reported)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads before timing")
    p.add_argument("--channels-last", action="store_true", help="networks and input in channels-last format")
    p.add_argument("--amp", action="store_true", help="forward passes under bfloat16 autocast")
    p.add_argument(
        "--lif-backend", default="auto", help="the avsnn network's LIF backend: auto, cpp, triton, torch or loop"
    )
    p.add_argument("--data", default="synthetic", help="dataset for the data-loading figure ('none' to skip)")
    p.add_argument(
        "--trace",
        "--profile",
        dest="trace",
        action="store_true",
        help="torch.profiler table of the avsnn step (--profile: the former name)",
    )
    p.add_argument("--breakdown", action="store_true", help="CPU time by category (conv, BN, LIF, ...)")
    p.add_argument(
        "--speedup",
        action="store_true",
        help="instead: default-profile training steps before/after the CPU speed-ups, interleaved (img/s, ratio)",
    )
    p.add_argument("--modalities", default="vision,audio", help="with --speedup: comma-separated, of vision and audio")
    p.add_argument("--repeats", type=int, default=5, help="with --speedup: timed rounds (median reported)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --speedup: a setting on top of the default profile (variant=no_pooling ...)",
    )
    p.add_argument("--out", default=None, help="write the result as JSON to this file")
    p.set_defaults(func=cmd_bench)
    return p


def cmd_bench(args) -> dict:
    """``avsnn bench``: time the networks, print the table and write it as JSON to ``--out`` when given."""
    import torch  # (here, not at import: `avsnn --help` stays fast)

    from .table import format_table
    from .timing import check_sizes, run_bench

    check_sizes(threads=args.threads)  # run_bench checks the other sizes
    from avsnn.data import check_data_source

    data = None if str(args.data).lower() == "none" else args.data
    if data is not None:
        check_data_source(data)
    if args.out:
        check_output_file(args.out, "--out")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.speedup:
        return _speedup(args, data)
    res = run_bench(
        args.width,
        args.timesteps,
        args.batch,
        args.steps,
        args.device,
        warmup=args.warmup,
        data=data,
        trace=args.trace,
        verbose=args.trace,
        channels_last=args.channels_last,
        amp=args.amp,
        breakdown=args.breakdown,
        lif_backend=args.lif_backend,
    )
    print(format_table(res))
    if args.out:
        atomic_write_bytes(args.out, (json.dumps(res, indent=2) + "\n").encode())
        print(f"wrote {args.out}")
    return res


def _speedup(args, data) -> dict:
    """``avsnn bench --speedup``: :func:`~avsnn.bench.speedup.speedup_bench`, its table and ``--out``."""
    from .speedup import format_speedup, speedup_bench

    if data is None:
        raise ValueError("--speedup needs a dataset: --data avdigits (the book's), synthetic or a folder")
    modalities = [m.strip() for m in str(args.modalities).split(",") if m.strip()]
    res = speedup_bench(
        modalities, data=data, steps=args.steps, repeats=args.repeats, warmup=args.warmup, overrides=args.overrides
    )
    print(format_speedup(res))
    if args.out:
        atomic_write_bytes(args.out, (json.dumps(res, indent=2) + "\n").encode())
        print(f"wrote {args.out}")
    return res


def main(argv=None) -> int:
    """``python -m avsnn.bench [bench] ARGS``: ``avsnn bench ARGS`` with its one-line errors."""
    from ..console import run_command

    parser = argparse.ArgumentParser(prog="avsnn-bench")
    sub = parser.add_subparsers(dest="command")
    add_bench_parser(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "bench":
        argv = ["bench"] + argv
    return run_command(parser.parse_args(argv), prog="avsnn-bench")
