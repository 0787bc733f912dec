"""Write the executed golden notebooks that `make test` checks with nbval.

Each chapter is executed through :func:`avsnn.tools.chapter.run_chapter` with its fast
``smoke`` parameters (``profile="smoke"`` for chapters that train) and written to
``tests/goldens/<chapter>.ipynb``. The golden records the SHA-256 of the chapter
source, so a test fails when a chapter changes without its golden being rebuilt.

    python -m avsnn.tools.goldens --out tests/goldens book/01_lif_neuron.md ...
"""

from __future__ import annotations

import argparse

from .chapter import chapter_parameters, read_chapter, run_chapter


def smoke_parameters(chapter) -> dict:
    """The parameters a golden is executed with: the ``smoke`` profile where the chapter has one."""
    params = chapter_parameters(read_chapter(chapter))
    return {"profile": "smoke"} if "profile" in params else {}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="+")
    parser.add_argument("--out", default="tests/goldens")
    args = parser.parse_args(argv)
    for chapter in args.chapters:
        print(run_chapter(chapter, smoke_parameters(chapter), args.out, progress=False), flush=True)


if __name__ == "__main__":
    main()
