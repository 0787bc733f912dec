"""Small text renderings of results for the book (tables as Markdown)."""

from __future__ import annotations

from typing import Sequence


def _fmt(v, digits: int) -> str:
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def markdown_table(rows: Sequence[Sequence], headers: Sequence[str], digits: int = 2) -> str:
    """A GitHub/MyST Markdown table; floats are printed with ``digits`` decimals."""
    if any(len(r) != len(headers) for r in rows):
        raise ValueError(f"every row needs {len(headers)} cells (one per header)")
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(_fmt(v, digits) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def percent(fraction: float) -> float:
    """A fraction as a percentage, for tables that follow the paper's units."""
    return 100.0 * float(fraction)
