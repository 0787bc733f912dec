"""Claims decided by numbers: runs over several seeds, mean ± sd, and a paired verdict.

Every headline comparison of the book trains each side for the same seeds (the data split stays
fixed; initialisation and sample order change with the seed) and reports the per-seed values,
their mean and sample standard deviation, and a verdict on the paired difference:

* ``held``     -- the mean difference favours the claim and its two-sided 95 % confidence
  interval (Student's t with ``n - 1`` degrees of freedom) excludes zero;
* ``reversed`` -- the interval lies entirely on the other side of zero;
* ``not shown`` -- the interval contains zero (the difference is within the seed-to-seed spread).

With 3 seeds the t quantile is 4.30: a difference must exceed about 2.5 standard deviations of
the per-seed differences to count. Where one side has a single value (a number quoted from the
paper) no interval exists and the verdict compares the mean with it directly, saying so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from scipy import stats

VERDICTS = ("held", "not shown", "reversed")


@dataclass(frozen=True)
class Summary:
    """Per-seed values of one quantity with their mean and sample standard deviation."""

    values: tuple

    @property
    def n(self) -> int:
        """Number of values (seeds)."""
        return len(self.values)

    @property
    def mean(self) -> float:
        """Mean of the values."""
        return sum(self.values) / self.n

    @property
    def sd(self) -> float:
        """Sample standard deviation (denominator ``n - 1``); NaN for a single value."""
        if self.n < 2:
            return float("nan")
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (self.n - 1))

    def format(self, scale: float = 100.0, digits: int = 1) -> str:
        """``"85.2 ± 1.3"`` (percent by default); a single value prints without the ``±``."""
        if self.n < 2:
            return f"{self.mean * scale:.{digits}f}"
        return f"{self.mean * scale:.{digits}f} ± {self.sd * scale:.{digits}f}"


def summarize(values: Sequence[float]) -> Summary:
    """The :class:`Summary` of ``values``; empty or non-finite values are a ``ValueError``."""
    values = tuple(float(v) for v in values)
    if not values:
        raise ValueError("summarize needs at least one value")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"summarize got a non-finite value: {values}")
    return Summary(values)


@dataclass(frozen=True)
class Comparison:
    """Paired difference ``a - b`` over the same seeds, and the verdict on "a > b"."""

    a: Summary
    b: Summary
    diff: Summary
    low: float
    high: float
    verdict: str

    def format(self, scale: float = 100.0, digits: int = 1) -> str:
        """The difference as text: its mean, confidence interval ``[low, high]`` and verdict, values times ``scale``."""
        d = self.diff
        if d.n < 2:
            return f"{d.mean * scale:+.{digits}f} (one seed: {self.verdict})"
        return (
            f"{d.mean * scale:+.{digits}f} [{self.low * scale:+.{digits}f}, {self.high * scale:+.{digits}f}] "
            f"({self.verdict})"
        )


def compare(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Comparison:
    """Decide whether ``a`` exceeds ``b``.

    Per-seed pairs when both have the same length, else ``a`` against the mean of ``b`` (for
    instance a single number quoted from the paper).
    """
    sa, sb = summarize(a), summarize(b)
    if sb.n == sa.n:
        diffs = [x - y for x, y in zip(sa.values, sb.values)]
    elif sb.n == 1:
        diffs = [x - sb.values[0] for x in sa.values]
    else:
        raise ValueError(f"compare needs paired values (same seeds) or one reference value, got {sa.n} and {sb.n}")
    sd = summarize(diffs)
    if sd.n < 2 or sd.sd == 0:
        low = high = sd.mean
    else:
        half = stats.t.ppf(0.5 + confidence / 2, sd.n - 1) * sd.sd / math.sqrt(sd.n)
        low, high = sd.mean - half, sd.mean + half
    verdict = "held" if low > 0 else "reversed" if high < 0 else "not shown"
    return Comparison(sa, sb, sd, low, high, verdict)


def over_seeds(fn: Callable[[int], float], seeds: Sequence[int]) -> Summary:
    """``summarize([fn(seed) for seed in seeds])``: e.g. ``fn`` trains a run and returns its accuracy."""
    seeds = list(seeds)
    if not seeds:
        raise ValueError("over_seeds needs at least one seed")
    return summarize([fn(s) for s in seeds])
