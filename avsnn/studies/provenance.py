"""The GPU build's record, and what the CPU book shows of it.

``scripts/gpu_book.py`` builds the GPU book (:mod:`avsnn.tools.book`) on a CUDA machine and writes
:data:`SUMMARY`: the device, the torch/CUDA/driver versions, the commit built, the wall time of
each chapter and the intro's claims (per-seed values, interval, half-width, verdict;
:func:`claims_record`). The intro of the CPU book shows that table beside its own
(:func:`gpu_book_section`), read from the file, labelled with the device and the commit, and
*stale* when the sources the claims depend on (:data:`SOURCES`) changed since that commit or the
commit is not an ancestor of ``HEAD`` (git, run as a subprocess; without git the freshness is
*unknown*). The commit that adds the summary changes no source, so it leaves the record current.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from avsnn.evidence import VERDICTS, Comparison, summarize

from .claims import Claim
from .tables import claims_table

ROOT = Path(__file__).resolve().parents[2]
#: the GPU build's record, committed (``scripts/gpu_book.py --out`` writes it)
SUMMARY = ROOT / "scripts" / "gpu_book_results" / "summary.json"
SCHEMA = 1
#: the folders whose changes make a recorded build stale (the library and the chapters)
SOURCES = ("avsnn", "book")
_KEYS = ("schema", "device", "versions", "commit", "chapters", "build_seconds", "claims")
_ROW_KEYS = ("claim", "paper", "a", "b", "diff", "low", "high", "smallest_effect", "verdict")


def claims_record(claims: Sequence[Claim]) -> list:
    """The claims as JSON rows (:func:`claims_from_record` reads them back).

    Each row: the text, the paper's figure, both sides' and the differences' per-seed values, the
    interval, its half-width, the smallest effect that matters, the verdict of the comparison and the
    silent runs that leave it undecided (:func:`avsnn.studies.claims.silent_runs`).
    """
    rows = []
    for c in claims:
        r = c.result
        rows.append(
            {
                "claim": c.claim,
                "paper": c.paper,
                "a": list(r.a.values),
                "b": list(r.b.values),
                "diff": list(r.diff.values),
                "low": r.low,
                "high": r.high,
                "half_width": None if math.isinf(r.half_width) else r.half_width,
                "smallest_effect": r.smallest_effect,
                "verdict": r.verdict,
                "silent": list(c.silent),
                "most_silent": c.most_silent,
            }
        )
    return rows


def claims_from_record(rows: Sequence[dict]) -> list:
    """The :class:`Claim` objects of :func:`claims_record` rows, their recorded interval and verdict kept."""
    out = []
    for i, row in enumerate(rows, 1):
        missing = [k for k in _ROW_KEYS if k not in row]
        if missing:
            raise ValueError(f"claims row {i}: missing key(s) {missing}")
        result = Comparison(
            summarize(row["a"]),
            summarize(row["b"]),
            summarize(row["diff"]),
            float(row["low"]),
            float(row["high"]),
            row["verdict"],
            float(row["smallest_effect"]),
        )
        if result.verdict not in VERDICTS:
            raise ValueError(f"verdict {result.verdict!r} is not one of {list(VERDICTS)}")
        silent = row.get("silent", [])  # records made before the guard have none
        if not isinstance(silent, list) or not all(isinstance(x, str) for x in silent):
            raise ValueError(f"claims row {i}: 'silent' must be a list of strings, got {silent!r}")
        most = row.get("most_silent")
        most = None if most is None else float(most)
        out.append(Claim(str(row["claim"]), str(row["paper"]), result, tuple(silent), most))
    return out


def read_summary(path: Path | str = SUMMARY) -> Optional[dict]:
    """The recorded GPU build at ``path``; ``None`` when there is none.

    A file that is not such a record (not JSON, a key missing, claims that do not parse) is a
    ``ValueError`` of one line naming the file and what was expected.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(summary, dict):
            raise ValueError("not a JSON object")
        missing = [k for k in _KEYS if k not in summary]
        if missing:
            raise ValueError(f"missing key(s) {missing}")
        if summary["schema"] != SCHEMA:
            raise ValueError(f"schema {summary['schema']!r}, this code reads {SCHEMA}")
        if not re.fullmatch(r"[0-9a-f]{7,40}", str(summary["commit"])):
            raise ValueError(f"commit {summary['commit']!r} is not a git commit id")
        summary["build_seconds"] = float(summary["build_seconds"])
        summary["chapters"] = {str(k): float(v) for k, v in dict(summary["chapters"]).items()}
        summary["claims"]["rows"] = claims_from_record(summary["claims"]["rows"])
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as e:
        text = f"missing key {e}" if isinstance(e, KeyError) else str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(
            f"{path}: not a GPU build record of scripts/gpu_book.py ({text}); expected a JSON object with {list(_KEYS)}"
        ) from None
    return summary


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30, check=False)


@dataclass(frozen=True)
class Freshness:
    """Whether a recorded build matches this checkout: ``state`` is current, stale or unknown; ``why`` says why."""

    state: str
    why: str = ""


def freshness(commit: str, root: Path | str = ROOT, sources: Sequence[str] = SOURCES) -> Freshness:
    """Whether the build at ``commit`` is current for the checkout at ``root`` (git, run as a subprocess).

    *stale* when ``commit`` is not an ancestor of ``HEAD`` or a path of ``sources`` differs between it and
    ``HEAD``; *unknown* where git is missing or ``root`` is no git checkout.
    """
    root = Path(root)
    try:
        head = _git(root, "rev-parse", "HEAD")
        if head.returncode != 0:
            return Freshness("unknown", "not a git checkout")
        if _git(root, "cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
            return Freshness("stale", "its commit is not in this checkout")
        if _git(root, "merge-base", "--is-ancestor", commit, "HEAD").returncode != 0:
            return Freshness("stale", "its commit is not an ancestor of HEAD")
        changed = _git(root, "diff", "--name-only", commit, "HEAD", "--", *sources)
        if changed.returncode != 0:
            return Freshness("unknown", "git diff failed")
        files = changed.stdout.split()
        if files:
            return Freshness("stale", f"{len(files)} file(s) of {', '.join(f'{s}/' for s in sources)} changed since")
        return Freshness("current")
    except (OSError, subprocess.SubprocessError):  # no git on this machine
        return Freshness("unknown", "git is not available")


def label(summary: dict, fresh: Freshness) -> str:
    """The line above the GPU build's table: device, commit and its freshness, versions, build time."""
    v = summary["versions"]
    state = fresh.state + (f": {fresh.why}" if fresh.why else "")
    c = summary["claims"]
    return (
        f"**GPU build** on {summary['device']}, commit `{summary['commit'][:12]}` ({state}); "
        f"torch {v.get('torch', '?')}, CUDA {v.get('cuda', '?')}, driver {v.get('driver', '?')}; "
        f"{summary['build_seconds']:.0f} s for the whole book. Its claims on {c.get('data', '?')!r} at the "
        f"{c.get('profile', '?')} profile over seeds {c.get('seeds', '?')} (the ablation at "
        f"{c.get('ablation_profile', '?')}, seeds {c.get('ablation_seeds', '?')}):"
    )


def chapter_times(summary: dict) -> str:
    """The recorded wall time of each chapter, one line."""
    return "chapter times (s): " + ", ".join(
        f"{Path(name).stem} {float(s):.0f}" for name, s in sorted(summary["chapters"].items())
    )


def gpu_book_section(path: Path | str = SUMMARY, root: Path | str = ROOT) -> str:
    """Markdown for the intro: the recorded GPU build's claims table with its label, or one line when there is none."""
    path, root = Path(path), Path(root)
    summary = read_summary(path)
    if summary is None:
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        return f"No GPU build of the book has been recorded (`{shown}` is absent; `scripts/gpu_book.py` writes it)."
    fresh = freshness(summary["commit"], root)
    return "\n\n".join([label(summary, fresh), claims_table(summary["claims"]["rows"]), chapter_times(summary)])
