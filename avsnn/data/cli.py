"""``avsnn data`` command line: ``make-synthetic``, ``make-avdigits`` and ``inspect``.

``inspect`` decodes every file of a dataset folder and reports the problems.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ..files import check_output_folder
from ._util import load_or_skip, shown
from .avdigits import DEFAULTS as AV
from .avdigits import make_avdigits
from .scan import ReleaseIndex, scan_release
from .synthetic import DEFAULTS as SYNTHETIC
from .synthetic import make_synthetic


def inspect_release(root: str | os.PathLike) -> tuple[ReleaseIndex, list]:
    """Scan ``root`` (``on_error="skip"``) and try to decode every paired and unpaired file.

    Returns ``(index, unreadable)``: the :class:`ReleaseIndex` and the ``(path, reason)`` of each file
    that fails to decode -- empty, undecodable or cut short (scan-time skips are in ``index.skipped``,
    non-data files in ``index.ignored``).
    """
    from .audio import read_wav  # (torch: here, so that `avsnn data --help` is fast)
    from .images import read_image

    index = scan_release(root, on_error="skip")
    unreadable: list = []
    files = [(s.image_path, read_image) for s in index.samples] + [(s.audio_path, read_wav) for s in index.samples]
    files += [(p, read_image) for p in index.unpaired_images] + [(p, read_wav) for p in index.unpaired_audio]
    for path, reader in files:
        load_or_skip(reader, path, "skip", unreadable)
    return index, unreadable


def _report(index: ReleaseIndex, unreadable: list) -> tuple[str, int]:
    """``(text, number of bad files)``: bad files are the skipped (duplicates) and the unreadable ones."""
    lines = [index.summary(), f"unreadable files: {len(unreadable)}"]
    lines += [f"  {shown(p)}: {r}" for p, r in unreadable[:50]]
    if len(unreadable) > 50:
        lines.append(f"  ... {len(unreadable) - 50} more")
    n_bad = len(index.skipped) + len(unreadable)
    ignored = f"; {len(index.ignored)} non-data file(s) ignored, not counted as bad" if index.ignored else ""
    if n_bad:
        lines.append(
            f"result: {n_bad} bad file(s) ({len(index.skipped)} skipped while scanning, "
            f"{len(unreadable)} unreadable){ignored}; exit code 1"
        )
    else:
        lines.append(
            f"result: all {2 * len(index.samples) + len(index.unpaired_images) + len(index.unpaired_audio)} "
            f"data files read{ignored}; exit code 0"
        )
    return "\n".join(lines), n_bad


def inspect_report(root: str | os.PathLike) -> str:
    """Text report: layout, pairs per class, unpaired, ignored, skipped and unreadable files, and the verdict."""
    return _report(*inspect_release(root))[0]


def cmd_inspect(args: argparse.Namespace) -> int:
    """``avsnn data inspect ROOT``: print the report; exit code 1 if any file is bad (skipped or unreadable)."""
    text, n_bad = _report(*inspect_release(args.root))
    print(text)
    return 1 if n_bad else 0


def cmd_make_synthetic(args: argparse.Namespace) -> int:
    """``avsnn data make-synthetic --out DIR [--seed S] [--per-class N]``."""
    t0 = time.perf_counter()
    out = make_synthetic(check_output_folder(args.out, "--out"), seed=args.seed, per_class=args.per_class)
    print(f"synthetic set ready at {out} ({time.perf_counter() - t0:.1f}s)")
    return 0


#: the degradation options of ``make-avdigits``: name -> (type, help); defaults in avsnn.data.avdigits.DEFAULTS
_AVDIGITS_OPTIONS = {
    "image_noise": (float, "std of Gaussian pixel noise, pixels in [0, 1]"),
    "occlusion": (float, "side of the occluding patch / image side"),
    "snr_db": (float, "speech-to-noise ratio of the audio in dB"),
    "onset_spread": (float, "share of the clip's free time the word's onset ranges over (0: at the start)"),
    "held_out": (float, "fraction of voices that speak only test samples"),
}


def cmd_make_avdigits(args: argparse.Namespace) -> int:
    """``avsnn data make-avdigits --out DIR [--seed S] [--image-noise X] [--occlusion F] [--snr-db D] ...``."""
    t0 = time.perf_counter()
    out = make_avdigits(
        check_output_folder(args.out, "--out"),
        seed=args.seed,
        per_class=args.per_class,
        overwrite=args.overwrite,
        **{name: getattr(args, name) for name in _AVDIGITS_OPTIONS},
    )
    print(f"AV-Digits ready at {out} ({time.perf_counter() - t0:.1f}s)")
    return 0


def add_data_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``data make-synthetic``, ``make-avdigits`` and ``inspect`` on an argparse ``subparsers`` object.

    Each leaf parser sets ``func`` (called as ``args.func(args)``, returns an exit code).
    """
    data = subparsers.add_parser(
        "data", help="dataset tools: generate the synthetic set or AV-Digits, inspect a dataset folder"
    )
    sub = data.add_subparsers(dest="data_command", required=True)
    mk = sub.add_parser(
        "make-synthetic",
        aliases=["make-embedded"],
        help="generate the synthetic audio-visual set (--data synthetic; make-embedded is the same command)",
    )
    mk.add_argument("--out", required=True, type=Path, help="output folder")
    mk.add_argument("--seed", type=int, default=SYNTHETIC["seed"], help="random seed (default %(default)s)")
    mk.add_argument(
        "--per-class", type=int, default=SYNTHETIC["per_class"], help="samples per class (default %(default)s)"
    )
    mk.set_defaults(func=cmd_make_synthetic)
    av = sub.add_parser(
        "make-avdigits", help="generate AV-Digits (--data avdigits: scanned digits + eSpeak NG spoken digits)"
    )
    av.add_argument("--out", required=True, type=Path, help="output folder")
    av.add_argument("--seed", type=int, default=AV["seed"], help=f"random seed (default {AV['seed']})")
    for name, (kind, text) in _AVDIGITS_OPTIONS.items():
        av.add_argument(
            f"--{name.replace('_', '-')}", type=kind, default=AV[name], help=f"{text} (default %(default)s)"
        )
    av.add_argument(
        "--per-class",
        type=int,
        default=AV["per_class"],
        help="use only the first N scans of each class (default: all 1,797 scans)",
    )
    av.add_argument("--overwrite", action="store_true", help="replace whatever --out holds")
    av.set_defaults(func=cmd_make_avdigits)
    ins = sub.add_parser(
        "inspect",
        help="report layout, pairs, unpaired, ignored and bad files of a release (exit code 1 if any file is bad)",
    )
    ins.add_argument("root", type=Path, help="dataset folder (vision/+audio/ or Dataset_v3_vision/+Dataset_v3_sound/)")
    ins.set_defaults(func=cmd_inspect)
    return data
