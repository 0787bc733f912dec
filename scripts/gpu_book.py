"""Build the GPU book on a CUDA machine and record it: ``scripts/gpu_book_results/summary.json`` (issue #29).

    python scripts/gpu_book.py --commit "$(git rev-parse HEAD)" --out "$OUT/gpu_book_results"

1. ``jupyter-book build .`` with ``AVSNN_BOOK_PROFILE=gpu`` (:mod:`avsnn.tools.book`), what
   ``make book AVSNN_BOOK_PROFILE=gpu`` runs once the environment exists; its log is ``build.log``
   in ``--out``. The C++ CPU kernel is left off (``AVSNN_FUSED_CPP=0``): the networks train on
   CUDA, and compiling it on a bare machine costs a minute of the GPU budget; the few CPU cells use
   the torch ops.
2. The wall time of each chapter, from the execution cache the build fills (jupyter-cache's records
   of this build); written to ``chapters.json`` even when the build fails.
3. The intro's claims at the GPU book's parameters (:func:`avsnn.studies.headline_claims`: the
   build trained every run, so this only reads the run store), the device and the torch, CUDA,
   driver and Triton versions, and the commit; written to ``summary.json``
   (:mod:`avsnn.studies.provenance` reads it for the CPU book's intro).

The commit is ``--commit``, else ``$AVSNN_COMMIT``, else git's ``HEAD``: a device machine gets a
copy of the working tree without its history, so pass it there, and build a committed tree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from avsnn.files import atomic_write_bytes  # noqa: E402
from avsnn.studies.provenance import SCHEMA, SUMMARY, claims_record  # noqa: E402
from avsnn.tools.book import VARIABLE, book_parameters  # noqa: E402
from avsnn.tools.chapter import chapter_parameters, read_chapter  # noqa: E402

PROFILE = "gpu"
INTRO = ROOT / "book" / "intro.md"
BUILD = ROOT / "_build"  # jupyter-book's output folder; its execution cache is _config.yml's execute.cache


def cache_folder() -> Path:
    """The execution cache the book build fills (``execute: cache:`` of ``_config.yml``)."""
    import yaml

    return ROOT / yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]["cache"]


def commit_id(given: str | None = None) -> str:
    """The commit built: ``given``, else ``$AVSNN_COMMIT``, else git's ``HEAD``; a ``ValueError`` when none is known."""
    commit = (given or os.environ.get("AVSNN_COMMIT", "")).strip()
    if not commit:
        try:
            out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
            commit = out.stdout.strip() if out.returncode == 0 else ""
        except OSError:
            commit = ""
    if not commit:
        raise ValueError("no commit known: pass --commit (a device machine has no git history) or set AVSNN_COMMIT")
    return commit


def chapter_times(cache_path: Path, since: float = 0.0) -> dict:
    """``{chapter: seconds}`` of the notebooks executed into the jupyter cache at ``cache_path`` after ``since``."""
    from jupyter_cache import get_cache

    if not Path(cache_path).is_dir():
        return {}
    out = {}
    for record in get_cache(str(cache_path)).list_cache_records():
        seconds = (record.data or {}).get("execution_seconds")
        created = record.created  # stored in UTC, read back without a time zone
        if created.tzinfo is None:
            created = created.replace(tzinfo=timezone.utc)
        if seconds is not None and created.timestamp() >= since:
            uri = Path(record.uri)
            name = str(uri.relative_to(ROOT)) if uri.is_relative_to(ROOT) else uri.name
            out[name] = round(float(seconds), 2)
    return dict(sorted(out.items()))


def versions() -> dict:
    """The device's name and the software versions of this build (``"none"`` for what is absent)."""
    import torch

    out = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda or "none"}
    try:
        import triton

        out["triton"] = triton.__version__
    except ImportError:
        out["triton"] = "none"
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        out["driver"] = smi.stdout.strip().splitlines()[0] if smi.returncode == 0 and smi.stdout.strip() else "none"
    except (OSError, subprocess.SubprocessError):
        out["driver"] = "none"
    return out


def device_name() -> str:
    """The CUDA device the book trained on, or ``"cpu"``."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def intro_parameters(profile: str = PROFILE) -> dict:
    """The parameters the intro runs with in the ``profile`` book (its own defaults, the book's values over them)."""
    nb = read_chapter(INTRO)
    return {**chapter_parameters(nb), **book_parameters(nb, INTRO.name, profile)}


def summary(commit: str, chapters: dict, build_seconds: float, claims, params: dict) -> dict:
    """The record :mod:`avsnn.studies.provenance` reads (``SCHEMA``)."""
    return {
        "schema": SCHEMA,
        "device": device_name(),
        "versions": versions(),
        "commit": commit,
        "book_profile": PROFILE,
        "build_seconds": round(build_seconds, 1),
        "chapters": chapters,
        "claims": {**params, "rows": claims_record(claims)},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_json(path: Path, data: dict) -> Path:
    """``data`` as indented JSON at ``path`` (written whole or not at all)."""
    return atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


def build(log: Path, timeout: float | None = None) -> int:
    """Run ``jupyter-book build`` of the GPU book (into :data:`BUILD`), its output to ``log``; the exit code.

    After ``timeout`` seconds the build and every process it started (kernels, training workers) are
    stopped and the code is 124, as ``timeout(1)`` gives.
    """
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, VARIABLE: PROFILE, "AVSNN_FUSED_CPP": "0", "PYTHONPATH": path}
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(jupyter_book), "build", str(ROOT), "--warningiserror", "--keep-going", "--builder", "html"]
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return 124


def main(argv=None) -> int:
    """Build, time and record the GPU book (module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=SUMMARY.parent, help=f"folder of the record (default {SUMMARY.parent})")
    ap.add_argument("--commit", help="the commit built (default: $AVSNN_COMMIT, else git HEAD)")
    ap.add_argument("--timeout", type=float, help="seconds the build may take; then it is stopped (code 124)")
    args = ap.parse_args(argv)
    try:
        commit = commit_id(args.commit)
    except ValueError as e:
        print(f"gpu_book: error: {e}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    code = build(args.out / "build.log", args.timeout)
    seconds = time.time() - start
    chapters = chapter_times(cache_folder(), since=start)
    write_json(args.out / "chapters.json", {"build_seconds": round(seconds, 1), "exit_code": code, **chapters})
    print(f"GPU book: exit code {code} after {seconds:.0f} s; chapters {chapters}", flush=True)
    if code != 0:
        print(f"the build failed: see {args.out / 'build.log'}; no summary written", file=sys.stderr)
        return 1
    from avsnn.studies import headline_claims

    params = intro_parameters()
    keys = ("data", "profile", "seeds", "ablation_profile", "ablation_seeds")
    claims = headline_claims(*(params[k] for k in keys))
    path = write_json(args.out / SUMMARY.name, summary(commit, chapters, seconds, claims, {k: params[k] for k in keys}))
    print(f"recorded {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
