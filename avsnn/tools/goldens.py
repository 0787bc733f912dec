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

#: what a golden changes where a chapter has the parameter: small networks, one seed (the tables and
#: verdicts run in their one-seed form), one knob value of the sweep
SMOKE = {
    "profile": "smoke",
    "seeds": [0],
    "ablation_profile": "smoke",
    "ablation_seeds": [0],
    "confusions": [1.0],
    "per_class": 30,
}


def smoke_parameters(chapter) -> dict:
    """The parameters a golden is executed with (:data:`SMOKE`, for the parameters the chapter has)."""
    params = chapter_parameters(read_chapter(chapter))
    return {k: v for k, v in SMOKE.items() if k in params}


def main(argv=None) -> None:
    """Execute each chapter with its smoke parameters and write its golden notebook to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="+")
    parser.add_argument("--out", default="tests/goldens")
    args = parser.parse_args(argv)
    for chapter in args.chapters:
        print(run_chapter(chapter, smoke_parameters(chapter), args.out, progress=False), flush=True)


if __name__ == "__main__":
    main()
