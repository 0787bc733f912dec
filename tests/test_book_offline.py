"""The book renders offline: the project's _config.yml ships MathJax with the build, nothing on a page
loads from outside it, and the browser check (scripts/book_check.py) tells a typeset page from a broken one."""

import importlib.util
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import yaml
from matplotlib.text import Annotation

from avsnn import plots

ROOT = Path(__file__).resolve().parent.parent
EQUATION = r"V[t+1] = \beta V[t]"
PAGE = f"# One equation\n\nThe membrane update:\n\n$$ {EQUATION} $$\n"


def _load_book_check():
    spec = importlib.util.spec_from_file_location("book_check", ROOT / "scripts" / "book_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


book_check = _load_book_check()


@pytest.fixture(scope="module")
def one_page_book(tmp_path_factory):
    """A one-page book with one equation built through the project's own _config.yml (execution off)."""
    src = tmp_path_factory.mktemp("book")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"  # the only change to the project's settings
    (src / "_config.yml").write_text(yaml.safe_dump(config))
    shutil.copytree(ROOT / "book" / "_ext", src / "book" / "_ext")  # the local extension _config.yml names
    (src / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    (src / "index.md").write_text(PAGE)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    done = subprocess.run(
        [str(jupyter_book), "build", str(src), "--warningiserror", "--builder", "html"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return src / "_build" / "html"


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self.links, self.inline = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts.append(a.get("src") or "")
        elif tag == "link":
            self.links.append(a.get("href") or "")

    def handle_data(self, data):
        if self.lasttag in ("script", "style"):
            self.inline.append(data)


def test_page_loads_no_script_style_or_font_from_outside(one_page_book):
    page = one_page_book / "index.html"
    html = page.read_text()
    assert EQUATION in html, "the equation is not on the page"
    refs = _Refs()
    refs.feed(html)
    remote = [u for u in refs.scripts + refs.links if u.startswith(("http:", "https:", "//"))]
    assert remote == [], f"the page loads from outside the build: {remote}"
    inline = "".join(refs.inline)
    assert "https://" not in inline and "http://" not in inline, "an inline script or style names a URL"
    mathjax = [u for u in refs.scripts if "mathjax" in u.lower()]
    assert len(mathjax) == 1, f"expected one MathJax script, got {mathjax}"
    assert (page.parent / mathjax[0].split("?")[0]).is_file(), f"{mathjax[0]} is missing from the build"
    fonts = one_page_book / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2"
    assert any(fonts.glob("MathJax_Main-Regular.woff")), "MathJax's fonts are not in the build"


@pytest.mark.slow  # six headless-Chromium page loads, about 10-20 s on 2 CPUs
def test_browser_check_passes_typeset_book_and_fails_without_mathjax(one_page_book, tmp_path, capsys):
    chromium = book_check.find_chromium()
    if chromium is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    assert book_check.check(one_page_book, chromium, jobs=2) == 0
    assert "(1 equations typeset)" in capsys.readouterr().out
    broken = tmp_path / "html"
    shutil.copytree(one_page_book, broken)
    shutil.rmtree(broken / "_static" / "mathjax")
    assert book_check.check(broken, chromium, jobs=2) == 1
    assert "FAIL index.html: raw TeX \\[" in capsys.readouterr().out


@pytest.mark.parametrize(
    "body, problem",
    [
        ('<p>membrane <span class="math"><mjx-container></mjx-container></span></p>', None),
        (r"<pre><code>print('\(x\)', '$$')</code></pre>", None),
        (r'<p>membrane <span class="math">\(V\)</span></p>', "raw TeX \\("),
        (r'<div class="math">$$V$$</div>', "raw TeX $$"),
        ('<img src="_images/fig.png">', None),
        ('<img src="_images/missing.png">', "does not load"),
        ('<img src="../outside.png">', "points outside the build"),
        ('<script src="https://cdn.example/mathjax.js"></script>', "from outside the build"),
        ('<div class="cell_output"><pre>Traceback (most recent call last):\n  ValueError</pre></div>', "traceback"),
        ("<pre>Traceback (most recent call last): quoted in a code cell</pre>", None),
    ],
)
def test_page_problems(tmp_path, body, problem):
    (tmp_path / "_images").mkdir()
    (tmp_path / "_images" / "fig.png").write_bytes(b"\x89PNG")
    page = tmp_path / "page.html"
    found, _ = book_check.page_problems(f"<html><body>{body}</body></html>", page, tmp_path)
    if problem is None:
        assert found == []
    else:
        assert len(found) >= 1 and problem in found[0], found


def test_check_without_browser_or_build_is_one_line(tmp_path, capsys):
    assert book_check.main([str(tmp_path / "nope")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"book-check: {tmp_path / 'nope'}: no built book there (run `make book` first)"
    )
    assert book_check.main([str(tmp_path), "--chromium", str(tmp_path / "chromium")]) == 2
    assert capsys.readouterr().err.strip() == f"book-check: --chromium {tmp_path / 'chromium'}: not an executable file"


def test_pipeline_figure_draws_the_papers_fig1():
    fig = plots.pipeline_figure()
    boxes = {t.get_gid(): t.get_text() for t in fig.axes[0].texts if t.get_gid()}
    assert set(boxes) == {
        "image",
        "vision_net",
        "vision_feature",
        "audio",
        "log_mel",
        "audio_net",
        "audio_feature",
        "concat",
        "smlp",
        "counts",
    }
    assert "L2-ActSpikeNet" in boxes["vision_net"] and "ResNet18" in boxes["vision_net"]
    assert "log-mel" in boxes["log_mel"] and "SMLP" in boxes["smlp"] and "spike" in boxes["counts"]
    assert "512-d" in boxes["vision_feature"] and "27136-d" in boxes["audio_feature"]
    assert "27648-d" in boxes["concat"]  # the paper's concatenated size, 512 + 27136
    assert all(t.get_bbox_patch() is not None for t in fig.axes[0].texts if t.get_gid())
    arrows = [c for c in fig.axes[0].get_children() if isinstance(c, Annotation)]
    assert len(arrows) == 9
    small = plots.pipeline_figure(visual_dim=64, audio_dim=100)
    assert any(t.get_text().endswith("164-d") for t in small.axes[0].texts)
    plt.close("all")
    with pytest.raises(ValueError, match="visual_dim=0"):
        plots.pipeline_figure(visual_dim=0)
