"""One data cache and one run store for the Makefile and the command line (issue #28).

The default cache folder is defined once, in avsnn.data._util: ``$AVSNN_CACHE``, else the data cache
of the checkout the package is imported from (whatever the working directory), else ``~/.cache/avsnn``.
The default run store likewise, in avsnn.files: ``$AVSNN_RUNS``, else the checkout's ``runs/``, else
``./runs``. ``make book`` / ``make test`` set neither and read them from there, so commands typed by
hand reuse the data and the runs the book built.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import avsnn
from avsnn import files
from avsnn.data import _util, default_cache_dir
from avsnn.train import store

ROOT = Path(avsnn.__file__).resolve().parents[1]  # the checkout of the imported package
IN_CHECKOUT = (ROOT / "Makefile").is_file() and (ROOT / "pyproject.toml").is_file()
needs_checkout = pytest.mark.skipif(not IN_CHECKOUT, reason="avsnn is not imported from a source checkout")
RESOLVE = {
    "cache-dir": "from avsnn.data import default_cache_dir; print(default_cache_dir())",
    "runs-dir": "from avsnn.train.store import default_root; print(default_root())",
}


def _fake_package(monkeypatch, root: Path) -> None:
    """Make avsnn.files (which finds the checkout) believe it lies in ``root/avsnn/``."""
    monkeypatch.setattr(files, "__file__", str(root / "avsnn" / "files.py"))


@needs_checkout
def test_default_is_the_checkout_cache_not_the_home_one(tmp_path, monkeypatch):
    monkeypatch.delenv("AVSNN_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # the working directory does not matter
    assert default_cache_dir() == ROOT / ".cache" / "avsnn" == _util.checkout_cache_dir()


def test_avsnn_cache_wins_over_the_checkout(tmp_path, monkeypatch):
    monkeypatch.setenv("AVSNN_CACHE", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"


def test_outside_a_checkout_the_default_is_the_home_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("AVSNN_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    _fake_package(monkeypatch, tmp_path / "site-packages")  # an installed wheel: no pyproject.toml above it
    assert _util.checkout_cache_dir() is None
    assert default_cache_dir() == tmp_path / ".cache" / "avsnn"
    (tmp_path / "site-packages" / "pyproject.toml").parent.mkdir()
    (tmp_path / "site-packages" / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert _util.checkout_cache_dir() is None  # another project's checkout


def test_a_checkout_found_by_its_pyproject(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "avsnn"\nversion = "0.1.0"\n')
    _fake_package(monkeypatch, tmp_path)
    assert _util.checkout_cache_dir() == tmp_path / ".cache" / "avsnn"
    if os.geteuid() != 0:  # root may write anywhere
        (tmp_path / ".cache").mkdir(mode=0o555)
        try:
            assert _util.checkout_cache_dir() is None  # not writable: the home cache instead
        finally:
            (tmp_path / ".cache").chmod(0o755)


@needs_checkout
def test_runs_default_is_the_checkout_runs_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("AVSNN_RUNS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert store.default_root() == files.default_runs_dir() == ROOT / "runs" == files.checkout_folder("runs")
    assert store.default_root(tmp_path / "given") == tmp_path / "given"  # an explicit root (--runs) first


def test_avsnn_runs_wins_over_the_checkout(tmp_path, monkeypatch):
    monkeypatch.setenv("AVSNN_RUNS", str(tmp_path / "mine"))
    assert store.default_root() == tmp_path / "mine"


def test_outside_a_checkout_the_runs_default_is_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("AVSNN_RUNS", raising=False)
    _fake_package(monkeypatch, tmp_path / "site-packages")  # an installed wheel: no pyproject.toml above it
    monkeypatch.chdir(tmp_path)
    assert files.checkout_folder("runs") is None
    assert store.default_root() == Path("runs") and store.default_root().absolute() == tmp_path / "runs"


def test_a_checkout_without_room_for_runs_keeps_them_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("AVSNN_RUNS", raising=False)
    (tmp_path / "clone").mkdir()
    (tmp_path / "clone" / "pyproject.toml").write_text('[project]\nname = "avsnn"\n')
    _fake_package(monkeypatch, tmp_path / "clone")
    assert files.default_runs_dir() == tmp_path / "clone" / "runs"
    (tmp_path / "clone" / "runs").write_text("")  # a file where the folder would go
    assert files.default_runs_dir() == Path("runs")
    if os.geteuid() != 0:  # root may write anywhere
        (tmp_path / "clone" / "runs").unlink()
        (tmp_path / "clone").chmod(0o555)
        try:
            assert files.default_runs_dir() == Path("runs")
        finally:
            (tmp_path / "clone").chmod(0o755)


@needs_checkout
@pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")
@pytest.mark.parametrize(
    "target, env_var, default", [("cache-dir", "AVSNN_CACHE", ".cache/avsnn"), ("runs-dir", "AVSNN_RUNS", "runs")]
)
@pytest.mark.parametrize("env_value", [None, "mine"])
def test_makefile_and_command_line_resolve_the_same_folder(tmp_path, target, env_var, default, env_value):
    """What make's processes resolve (make -s cache-dir / runs-dir) is what a command typed elsewhere resolves."""
    env = {k: v for k, v in os.environ.items() if k not in (env_var, "MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env["HOME"] = str(tmp_path)
    if env_value:
        env[env_var] = str(tmp_path / env_value)
    make = subprocess.run(
        ["make", "-s", "--no-print-directory", target, f"PY_BOOT={sys.executable}"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
    )
    assert make.returncode == 0, make.stderr[-2000:]
    cli = subprocess.run(
        [sys.executable, "-c", RESOLVE[target]],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
    )
    assert cli.returncode == 0, cli.stderr[-2000:]
    expected = tmp_path / env_value if env_value else ROOT / default
    assert make.stdout.strip() == cli.stdout.strip() == str(expected)
