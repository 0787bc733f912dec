r"""Open every page of the built book in headless Chromium, with no network, and check what a reader sees.

A page fails when, after its scripts ran, the rendered text still holds raw TeX delimiters
(``\\(``, ``\\[``, ``$$``: MathJax did not typeset), when an ``<img>`` points at a file missing from
the build (or outside it), when a script or stylesheet is loaded from outside the build, or when an
executed cell shows a Python traceback. Host names resolve to nothing, so a page that needs the
network to render shows it here. Uses the machine's Chromium; never downloads a browser.

    python scripts/book_check.py [_build/html] [--chromium PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

REFRESH = re.compile(r"""<meta[^>]+http-equiv=["']refresh["'][^>]+url=([^"'>\s]+)""", re.IGNORECASE)
RAW_TEX = ("\\(", "\\[", "$$")
TRACEBACK = "Traceback (most recent call last)"
SKIP_TEXT = {"script", "style", "pre", "code", "textarea", "template", "noscript"}  # code may hold TeX
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: any outside fetch fails, as on a cut-off machine
]


class BookCheckError(RuntimeError):
    """A fault in the check's own input (no browser, no build): one line, no traceback."""


class _Page(HTMLParser):
    """Collects the rendered text, the <img> sources, external loads and cell-output text of one DOM."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool, bool]] = []  # (tag, hides text, is a cell output)
        self.text: list[str] = []
        self.output_text: list[str] = []
        self.images: list[str] = []
        self.external: list[str] = []
        self.traceback_blocks = 0
        self.math = self.typeset = 0

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "script" and _is_remote(a.get("src", "")):
            self.external.append(a["src"])
        if (
            tag == "link"
            and _is_remote(a.get("href", ""))
            and {"stylesheet", "preload", "icon"} & set(a.get("rel", "").split())
        ):
            self.external.append(a["href"])
        if "math" in classes and tag in ("span", "div"):
            self.math += 1
        if tag == "mjx-container":
            self.typeset += 1
        if "traceback" in classes:
            self.traceback_blocks += 1
        if tag in VOID:
            return
        hidden = tag in SKIP_TEXT or (bool(self.stack) and self.stack[-1][1])
        output = "cell_output" in classes or (bool(self.stack) and self.stack[-1][2])
        self.stack.append((tag, hidden, output))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):  # tolerate unclosed tags
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        hidden, output = (self.stack[-1][1], self.stack[-1][2]) if self.stack else (False, False)
        if output:
            self.output_text.append(data)
        if not hidden:
            self.text.append(data)


def _is_remote(url: str) -> bool:
    return url.startswith(("http://", "https://", "//"))


def page_problems(dom: str, page: Path, root: Path) -> tuple[list[str], int]:
    """What is wrong with one rendered page, and how many equations MathJax typeset on it.

    The page is read as its DOM after the scripts ran; the list of problems is empty when it reads well.
    """
    parser = _Page()
    parser.feed(dom)
    problems = []
    text = "".join(parser.text)
    for delim in RAW_TEX:
        if delim in text:
            at = text.index(delim)
            snippet = " ".join(text[at : at + 60].split())
            problems.append(f'raw TeX {delim} in the rendered text (MathJax did not typeset): "{snippet}"')
            break
    if parser.math and not parser.typeset:
        problems.append(f"math on the page ({parser.math} elements) but no MathJax output")
    for src in parser.images:
        problem = _image_problem(src, page, root)
        if problem:
            problems.append(problem)
    problems += [f"loads {url} from outside the build" for url in parser.external]
    if parser.traceback_blocks or TRACEBACK in "".join(parser.output_text):
        problems.append("an executed cell shows a Python traceback")
    return problems, parser.typeset


def _image_problem(src: str, page: Path, root: Path) -> str | None:
    if not src:
        return "an <img> without src"
    if src.startswith("data:"):
        return None
    if _is_remote(src):
        return f"image {src} is outside the build"
    url = urlparse(src)
    target = (page.parent / unquote(url.path)).resolve()
    if root.resolve() not in target.parents:
        return f"image {src} points outside the build"
    if not target.is_file() or target.stat().st_size == 0:
        return f"image {src} does not load (no file {target.relative_to(root.resolve())})"
    return None


def landing(page: Path) -> Path:
    """The page the browser shows for ``page``: its target when it is a meta-refresh redirect (index.html)."""
    match = REFRESH.search(page.read_text(encoding="utf-8", errors="replace")[:2000])
    return (page.parent / unquote(urlparse(match.group(1)).path)).resolve() if match else page


def find_chromium(explicit: str | None = None) -> str | None:
    """The browser to use: ``--chromium``, else $CHROMIUM, else ``chromium`` on PATH, else /usr/bin/chromium."""
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for candidate in (os.environ.get("CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def render(chromium: str, page: Path, budget_ms: int = 10000, timeout_s: float = 120) -> str:
    """The page's DOM after its scripts ran, dumped by headless Chromium (fresh profile, no network)."""
    with tempfile.TemporaryDirectory(prefix="book-check-") as profile:
        cmd = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            page.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise BookCheckError(f"{chromium} did not finish {page} within {timeout_s:g} s") from None
    if done.returncode or not done.stdout.strip():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BookCheckError(f"{chromium} could not render {page} (exit {done.returncode}): {last}")
    return done.stdout


def pages(root: Path) -> list[Path]:
    """Every built HTML page, without the theme's and Sphinx's asset folders."""
    assets = {"_static", "_sources", "_images", "_sphinx_design_static"}
    return sorted(p for p in root.rglob("*.html") if not assets & set(p.relative_to(root).parts[:-1]))


def check(root: Path, chromium: str, jobs: int = 2, budget_ms: int = 10000) -> int:
    """Check every page; print one line per page and a summary. Returns the number of failing pages."""
    found = pages(root)
    if not found:
        raise BookCheckError(f"{root}: no built pages (run `make book` first)")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        doms = list(pool.map(lambda p: render(chromium, p, budget_ms), found))
    failed = 0
    for page, dom in zip(found, doms):
        problems, equations = page_problems(dom, landing(page), root)
        name = page.relative_to(root).as_posix()
        if problems:
            failed += 1
            print(f"FAIL {name}: " + "; ".join(problems))
        else:
            print(f"ok   {name}" + (f" ({equations} equations typeset)" if equations else ""))
    print(
        f"book-check: {len(found) - failed}/{len(found)} pages render offline in {Path(chromium).name}"
        + (f"; {failed} failed" if failed else "")
    )
    return failed


def main(argv=None) -> int:
    """Check every page of the built book; exit code 0 when all read well, 1 when a page fails, 2 on bad input."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", nargs="?", default="_build/html", type=Path, help="the built HTML book")
    ap.add_argument("--chromium", help="browser executable (default: $CHROMIUM, chromium on PATH, /usr/bin/chromium)")
    ap.add_argument("--jobs", type=int, default=2, help="pages rendered at once")
    ap.add_argument("--budget-ms", type=int, default=10000, help="virtual time each page's scripts get")
    args = ap.parse_args(argv)
    try:
        if not args.build.is_dir():
            raise BookCheckError(f"{args.build}: no built book there (run `make book` first)")
        chromium = find_chromium(args.chromium)
        if chromium is None and args.chromium:
            raise BookCheckError(f"--chromium {args.chromium}: not an executable file")
        if chromium is None:
            raise BookCheckError(
                "no Chromium found (--chromium, $CHROMIUM, chromium on PATH, /usr/bin/chromium); "
                "install it with `apt-get install chromium`"
            )
        return 1 if check(args.build, chromium, args.jobs, args.budget_ms) else 0
    except BookCheckError as err:
        print(f"book-check: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
