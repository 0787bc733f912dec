"""The wheels a bare CUDA machine lacks for ``scripts/gpu_check.sh``, into ``.gpu_wheels/`` (``make gpu-wheels``).

The device image holds Python 3.12 with PyTorch, Triton, torchaudio, numpy, scipy, scikit-learn,
matplotlib, Pillow, PyYAML, Jinja2, pytest and tqdm, and reaches no registry. The book build needs
more: :data:`WHEELS`, at the versions of ``requirements.lock``. Everything travels to the device with
the working tree (64 MiB in all, carry ``[".gpu_wheels"]``), so what the build can do without is left
out (:data:`LEFT_OUT`). Writes ``requirements.txt`` beside the wheels; the device script installs it
with ``pip install --no-index --no-deps``.

    python scripts/gpu_wheels.py --out .gpu_wheels
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the device's Python and platforms (/work/.library/device/KINDS.md: Python 3.12 on x86-64 Linux)
PYTHON_VERSION = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "any")
#: what the wheels may take of the 64 MiB that travel (the working tree takes about 6)
MAX_BYTES = 56 << 20
#: the book build's packages the device image lacks (or holds at another major version: markdown-it-py)
WHEELS = """
accessible-pygments alabaster asttokens babel beautifulsoup4 comm docutils espeakng-loader executing
fastjsonschema imagesize importlib_metadata ipykernel ipython ipython_pygments_lexers jsonschema
jsonschema-specifications jupyter-book jupyter-cache jupyter_client jupyter_core jupytext latexcodec
lazy-importer linkify-it-py markdown-it-py matplotlib-inline mdit-py-plugins mdurl myst-nb myst-parser
nbclient nbformat nest-asyncio2 pexpect platformdirs prompt_toolkit ptyprocess pure_eval pybtex
pybtex-docutils pydata-sphinx-theme pyzmq referencing rpds-py snntorch snowballstemmer soupsieve Sphinx
sphinx-book-theme sphinx-comments sphinx-copybutton sphinx_design sphinx_external_toc
sphinx-jupyterbook-latex sphinx-mathjax-offline sphinx-multitoc-numbering sphinx-thebe
sphinx-togglebutton sphinxcontrib-applehelp sphinxcontrib-bibtex sphinxcontrib-devhelp
sphinxcontrib-htmlhelp sphinxcontrib-jsmath sphinxcontrib-qthelp sphinxcontrib-serializinghtml
SQLAlchemy stack-data tornado traitlets wcwidth
""".split()
#: dependencies the build runs without (10 MiB): ipykernel's debugger, IPython's completer
LEFT_OUT = ("debugpy", "jedi", "parso")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(names, lock_text: str) -> list:
    """``name==version`` of each of ``names`` as ``requirements.lock`` pins it; a ``ValueError`` naming the absent."""
    locked = {}
    for line in lock_text.splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            locked[_norm(name)] = f"{name}=={version}"
    missing = [n for n in names if _norm(n) not in locked]
    if missing:
        raise ValueError(f"requirements.lock pins no version of {missing}; expected every wheel of the list pinned")
    return [locked[_norm(n)] for n in names]


def main(argv=None) -> int:
    """Download :data:`WHEELS` for the device into ``--out`` and write its ``requirements.txt``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / ".gpu_wheels")
    args = ap.parse_args(argv)
    wanted = pins(WHEELS, (ROOT / "requirements.lock").read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
    cmd += ["--python-version", PYTHON_VERSION, *(f"--platform={p}" for p in PLATFORMS), "-d", str(args.out)]
    subprocess.run([*cmd, *wanted], check=True)
    (args.out / "requirements.txt").write_text("\n".join(wanted) + "\n")
    size = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"{len(wanted)} wheels, {size / 2**20:.1f} MiB in {args.out}")
    if size > MAX_BYTES:
        print(f"more than {MAX_BYTES >> 20} MiB: the working tree would not travel", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
