"""``python -m avsnn`` / ``avsnn``: the command line of the package.

Sub-commands::

    chapter run|params   re-run a book chapter with new parameters (papermill)
    data make-synthetic|make-avdigits|inspect   the generated datasets and real dataset layouts
    train                train (or load) a vision, audio or fusion run
    show                 a stored run: metrics beside the chance level, config, per-epoch history
    baseline             logistic-regression probes on pixels / log-mel statistics of the same split
    bench                time a training step against an ANN and an snnTorch-style loop

Expected failures (bad input, a missing or damaged file, a read-only folder, a full disk, a
diverged run, no GPU) end with one line ``avsnn <command>: error: ...`` on stderr and exit code 2;
set ``AVSNN_DEBUG=1`` to see the traceback instead. What can be checked before a command writes
(settings and their relations, dataset names, output paths, the memory a network needs) is
checked first; a mistyped name gets the nearest known one (``did you mean 'lr'?``).
"""

from __future__ import annotations

import argparse

from .console import expected_error, one_line, run_command  # noqa: F401  (the CLI's public helpers)


def build_parser() -> argparse.ArgumentParser:
    """The ``avsnn`` argument parser with every sub-command."""
    from .baseline import add_baseline_parser
    from .bench import add_bench_parser
    from .data import add_data_parser
    from .tools.chapter import add_chapter_parser
    from .train import add_train_parser

    parser = argparse.ArgumentParser(
        prog="avsnn",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_chapter_parser(sub)
    add_data_parser(sub)
    add_train_parser(sub)
    add_baseline_parser(sub)
    add_bench_parser(sub)
    return parser


def main(argv=None) -> int:
    """Run the ``avsnn`` command line on ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    return run_command(build_parser().parse_args(argv))
