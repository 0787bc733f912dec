"""Markdown tables of the studies: per-seed accuracies of arms, and claims with their verdicts."""

from __future__ import annotations

import math
from typing import Optional, Sequence

from avsnn.evidence import Comparison, Summary, summarize
from avsnn.report import markdown_table

from .arms import Arm
from .claims import Claim


def _cell(s: Summary, scale: float = 100.0, digits: int = 1) -> str:
    return s.format(scale, digits)


def seeds_table(arms: dict, probes: Optional[dict] = None) -> str:
    """Markdown: one row per arm (``{name: per-seed accuracies or Arm}``): mean ± sd and the per-seed points (%)."""
    rows = []
    for name, values in arms.items():
        s = summarize(values.accuracies if isinstance(values, Arm) else values)
        rows.append((name, _cell(s), ", ".join(f"{100 * v:.1f}" for v in s.values)))
    for name, value in (probes or {}).items():
        rows.append((name, f"{100 * value:.1f}", "(no seed: a convex fit)"))
    return markdown_table(rows, ["model", "test accuracy (%), mean ± sd", "per seed (%)"])


def claims_table(claims: Sequence[Claim], scale: float = 100.0, digits: int = 1) -> str:
    """Markdown table of claims: the paper's figure, ours, the difference with its CI, what it can see, the verdict.

    Ours shows both sides as mean ± sd. "can see" is the interval's half-width (the smallest difference this
    design detects) beside the smallest effect that matters for the verdict (the paper's, else the default).
    Values are fractions shown as percent (``scale=100``); ``scale=1`` shows them as they are.
    """
    unit = "%" if scale == 100.0 else "value"

    def sees(r: Comparison) -> str:
        half = "-" if math.isinf(r.half_width) else f"±{r.half_width * scale:.{digits}f}"
        return f"{half} (matters: {r.smallest_effect * scale:.{digits}f})"

    rows = [
        (
            c.claim,
            c.paper or "-",
            f"{_cell(c.result.a, scale, digits)} vs {_cell(c.result.b, scale, digits)}",
            c.result.format(scale, digits),
            sees(c.result),
            c.verdict_text(scale, digits),
        )
        for c in claims
    ]
    diff = "points" if scale == 100.0 else "difference"
    return markdown_table(
        rows, ["claim", "paper", f"ours ({unit}, mean ± sd)", f"{diff} (95 % CI)", "can see", "verdict"]
    )
