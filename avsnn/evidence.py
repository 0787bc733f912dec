"""Claims decided by numbers: runs over several seeds, mean ± sd, and a paired verdict.

Every headline comparison of the book trains each side for the same seeds (the data split stays
fixed; initialisation and sample order change with the seed) and reports the per-seed values,
their mean and sample standard deviation, and a verdict on the claim "a beats b" from the two-sided
95 % confidence interval ``[low, high]`` of the paired difference ``a - b`` (Student's t with
``n - 1`` degrees of freedom):

* ``held``            -- the whole interval is above zero;
* ``reversed``        -- the whole interval is below zero;
* ``no effect above`` -- the interval contains zero and its upper end is below the smallest effect
  that matters (the paper's effect where it states one, else :data:`SMALLEST_EFFECT`): the design
  rules out the claimed effect, and the table prints the bound (``no effect above +1.2``);
* ``inconclusive``    -- the interval contains zero and reaches the smallest effect that matters:
  this design cannot tell.

The interval's half-width, ``t * sd / sqrt(n)`` of the per-seed differences, is what a design can
see: a true difference smaller than it is usually not ``held``. With 3 seeds the t quantile is 4.30,
so a difference must exceed about 2.5 standard deviations of the per-seed differences to count.
Where one side has a single value (a number quoted from the paper) the per-seed values of the other
side are compared with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from scipy import stats

HELD, REVERSED, NO_EFFECT, INCONCLUSIVE = "held", "reversed", "no effect above", "inconclusive"
VERDICTS = (HELD, REVERSED, NO_EFFECT, INCONCLUSIVE)
#: the smallest difference that matters where a claim states none: 5 accuracy points (as a fraction)
SMALLEST_EFFECT = 0.05
#: the recipe's bar (scripts/recipe_check.py, the transfer suite, appendix 12): a spiking network
#: reaches at least this share of its ANN twin's test accuracy
TWIN_SHARE = 0.90


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
    smallest_effect: float

    @property
    def half_width(self) -> float:
        """Half the width of the confidence interval: about the smallest difference this design can see."""
        return (self.high - self.low) / 2 if self.diff.n >= 2 else math.inf

    def verdict_text(self, scale: float = 100.0, digits: int = 1) -> str:
        """The verdict in the book's words; ``no effect above`` carries its bound (values times ``scale``)."""
        if self.verdict == NO_EFFECT:
            return f"{NO_EFFECT} {max(self.high, 0.0) * scale:+.{digits}f}"
        return self.verdict

    def format(self, scale: float = 100.0, digits: int = 1) -> str:
        """The difference as text: its mean, confidence interval ``[low, high]`` and verdict, values times ``scale``."""
        d = self.diff
        if d.n < 2:
            return f"{d.mean * scale:+.{digits}f} (one seed: {self.verdict_text(scale, digits)})"
        return (
            f"{d.mean * scale:+.{digits}f} [{self.low * scale:+.{digits}f}, {self.high * scale:+.{digits}f}] "
            f"({self.verdict_text(scale, digits)})"
        )


def decide(low: float, high: float, smallest_effect: float = SMALLEST_EFFECT) -> str:
    """The verdict on "a beats b" from the confidence interval ``[low, high]`` of ``a - b`` (module docstring)."""
    if not smallest_effect > 0:
        raise ValueError(f"smallest_effect must be a positive difference, got {smallest_effect}")
    if low > 0:
        return HELD
    if high < 0:
        return REVERSED
    return NO_EFFECT if high < smallest_effect else INCONCLUSIVE


def compare(
    a: Sequence[float], b: Sequence[float], confidence: float = 0.95, smallest_effect: float = SMALLEST_EFFECT
) -> Comparison:
    """Decide whether ``a`` exceeds ``b`` (:func:`decide`).

    Per-seed pairs when both have the same length, else ``a`` against the mean of ``b`` (for
    instance a single number quoted from the paper). ``smallest_effect``: the difference that
    matters (the paper's effect where it states one).
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
    # one difference gives no interval: nothing can be decided from it
    verdict = decide(low, high, smallest_effect) if sd.n >= 2 else INCONCLUSIVE
    return Comparison(sa, sb, sd, low, high, verdict, smallest_effect)


def seeds_needed(sd: float, half_width: float, confidence: float = 0.95, most: int = 1000) -> int:
    """The fewest seeds ``n >= 2`` whose interval half-width ``t(n - 1) * sd / sqrt(n)`` is at most ``half_width``.

    ``sd``: the standard deviation of the per-seed differences (measured over the seeds run so far);
    ``most`` when even that many would not do (or the spread is not finite).
    """
    if not half_width > 0 or sd < 0:
        raise ValueError(f"seeds_needed wants half_width > 0 and sd >= 0, got half_width={half_width}, sd={sd}")
    if not math.isfinite(sd):
        return most
    for n in range(2, most + 1):
        if stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n) <= half_width:
            return n
    return most


def over_seeds(fn: Callable[[int], float], seeds: Sequence[int]) -> Summary:
    """``summarize([fn(seed) for seed in seeds])``: e.g. ``fn`` trains a run and returns its accuracy."""
    seeds = list(seeds)
    if not seeds:
        raise ValueError("over_seeds needs at least one seed")
    return summarize([fn(s) for s in seeds])
