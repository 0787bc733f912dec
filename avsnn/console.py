"""Running a command: expected errors become one line on stderr, bugs keep their traceback.

Used by every entry point (``avsnn``, ``python -m avsnn.bench``); standard library only, so any
layer of the package can use it.
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _raised_in_avsnn(err: BaseException) -> bool:
    """Whether the innermost frame of ``err``'s traceback is avsnn code (not torch, numpy ...)."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(PACKAGE)


def expected_error(err: BaseException) -> bool:
    """Bad input or a fault of the environment (one line), as opposed to a bug (a traceback).

    ``ValueError`` (bad values, damaged files), ``OSError`` (missing, unreadable or unwritable files,
    a full disk) and ``RuntimeError`` raised by avsnn itself (no GPU, a diverged run, a store write).
    """
    if isinstance(err, (ValueError, OSError)):
        return True
    return isinstance(err, RuntimeError) and (type(err).__module__.startswith("avsnn") or _raised_in_avsnn(err))


def one_line(err: BaseException) -> str:
    """The error's message on one line (its non-empty lines joined by ``"; "``), or its type name when empty."""
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    return "; ".join(lines) or type(err).__name__


def did_you_mean(word: str, choices, aliases: dict | None = None) -> str:
    """``"; did you mean 'x'?"`` for the choice nearest to a mistyped ``word``, ``""`` when none is near.

    ``aliases`` maps other names to a choice (``learning_rate`` -> ``lr``; a folder's name -> its path).
    Spelling is compared with :func:`difflib.get_close_matches` (cut-off 0.6), ignoring case, to the
    choices and the aliases.
    """
    by_lower = {str(a).lower(): str(c) for a, c in (aliases or {}).items()}
    by_lower.update({str(c).lower(): str(c) for c in choices})
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1)
    return f"; did you mean {by_lower[close[0]]!r}?" if close else ""


def run_command(args, prog: str = "avsnn") -> int:
    """Run ``args.func(args)``: expected errors become one line on stderr (exit code 2)."""
    try:
        rc = args.func(args)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
    except BrokenPipeError:  # `avsnn show ... | head -1`: the reader has gone, nothing to report
        try:  # the interpreter's final flush must not fail either
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # stdout is not a file (captured)
            pass
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if os.environ.get("AVSNN_DEBUG", "").strip() not in ("", "0") or not expected_error(err):
            raise
        command = getattr(args, "command", None)
        print(f"{prog}{f' {command}' if command else ''}: error: {one_line(err)}", file=sys.stderr)
        return 2
    return rc if isinstance(rc, int) else 0
