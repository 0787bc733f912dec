"""The chapters cross-reference by label: every chapter has a page label, every displayed equation a
label that the text cites with {eq}, every {eq} and {ref} names a label that exists, and code cells
fit the page column."""

import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parent.parent / "book"
CHAPTERS = sorted(BOOK.glob("*.md"))
CODE_WIDTH = 88


#: chapters whose prose another change rewrites; their typed chapter numbers go with it
def _split(path: Path) -> tuple[str, list[str]]:
    """``(prose, code lines)`` of a MyST notebook chapter."""
    prose, code, in_code = [], [], False
    for line in path.read_text().splitlines():
        if line.startswith("```{code-cell}"):
            in_code = True
        elif in_code and line.startswith("```"):
            in_code = False
        else:
            (code if in_code else prose).append(line)
    return "\n".join(prose), code


def _labels(pattern: str) -> dict:
    return {p.name: re.findall(pattern, _split(p)[0], re.M) for p in CHAPTERS}


EQ_LABELS = _labels(r"^\s*:label: (\S+)$")
PAGE_LABELS = _labels(r"^\((ch-[\w-]+)\)=$")


def test_every_chapter_has_a_page_label_before_its_title():
    for path in CHAPTERS:
        prose = _split(path)[0]
        assert re.search(r"^\(ch-[\w-]+\)=\n\n# ", prose, re.M), f"{path.name}: no (ch-...)= label before the title"
    names = [label for labels in PAGE_LABELS.values() for label in labels]
    assert len(names) == len(set(names)) == len(CHAPTERS)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_equations_are_labelled_and_cited(path):
    prose = _split(path)[0]
    assert "$$" not in prose, f"{path.name}: a $$ display without a label; use a labelled {{math}} block"
    blocks = re.findall(r"```\{math\}\n(.*?)```", prose, re.S)
    assert all(re.match(r"\s*:label: \S+", b) for b in blocks), f"{path.name}: a {{math}} block without :label:"
    cited = set(re.findall(r"\{eq\}`([^`]+)`", prose))
    uncited = set(EQ_LABELS[path.name]) - cited
    assert not uncited, f"{path.name}: equations the text never cites: {sorted(uncited)}"


def test_every_reference_names_an_existing_label():
    equations = [label for labels in EQ_LABELS.values() for label in labels]
    assert len(equations) == len(set(equations)), "an equation label is defined twice"
    pages = {label for labels in PAGE_LABELS.values() for label in labels}
    for path in CHAPTERS:
        prose = _split(path)[0]
        for label in re.findall(r"\{eq\}`([^`]+)`", prose):
            assert label in equations, f"{path.name}: {{eq}}`{label}` names no equation"
        for ref in re.findall(r"\{ref\}`([^`]+)`", prose):
            label = re.sub(r".*<(.+)>$", r"\1", ref)
            assert label in pages, f"{path.name}: {{ref}}`{ref}` names no chapter label"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapters_are_referred_to_by_label(path):
    typed = re.findall(r"\bchapters? \d+\w*", _split(path)[0])
    assert not typed, f"{path.name}: typed chapter numbers {typed}; use {{ref}}`ch-...`"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_code_cells_fit_the_page_column(path):
    wide = [line for line in _split(path)[1] if len(line) > CODE_WIDTH]
    assert not wide, f"{path.name}: code lines wider than {CODE_WIDTH} columns: {wide}"
