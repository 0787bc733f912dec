"""Verdicts on paired seed comparisons, against numbers worked out by hand."""

import math

import pytest

from avsnn.evidence import (
    INCONCLUSIVE,
    NO_EFFECT,
    SMALLEST_EFFECT,
    VERDICTS,
    compare,
    decide,
    over_seeds,
    seeds_needed,
    summarize,
)


def test_summary_mean_and_sample_sd():
    s = summarize([0.80, 0.84, 0.88])
    assert s.mean == pytest.approx(0.84) and s.sd == pytest.approx(0.04)
    assert s.format() == "84.0 ± 4.0" and summarize([0.5]).format() == "50.0"
    with pytest.raises(ValueError, match="non-finite"):
        summarize([0.5, float("nan")])


def test_paired_verdicts():
    # differences 0.05, 0.06, 0.07: mean 0.06, sd 0.01, t(0.975, 2) = 4.303 -> CI 0.06 ± 0.0248
    c = compare([0.90, 0.91, 0.92], [0.85, 0.85, 0.85])
    half = 4.302653 * 0.01 / math.sqrt(3)
    assert c.verdict == "held" and c.low == pytest.approx(0.06 - half, abs=1e-6)
    assert c.high == pytest.approx(0.06 + half, abs=1e-6)
    # differences +0.05, -0.04, +0.02: the interval contains zero and reaches far beyond 5 points
    assert compare([0.90, 0.81, 0.87], [0.85, 0.85, 0.85]).verdict == "inconclusive"
    assert compare([0.80, 0.81, 0.82], [0.85, 0.85, 0.85]).verdict == "reversed"
    # against one quoted number
    assert compare([0.90, 0.91, 0.92], [0.80]).verdict == "held"
    # one seed gives no interval: nothing is decided
    one = compare([0.95], [0.80])
    assert one.verdict == INCONCLUSIVE and math.isinf(one.half_width) and "one seed: inconclusive" in one.format()
    with pytest.raises(ValueError, match="paired"):
        compare([0.9, 0.8, 0.7], [0.1, 0.2])


def test_over_seeds_calls_each_seed_once():
    seen = []
    s = over_seeds(lambda seed: seen.append(seed) or seed / 10, [0, 1, 2])
    assert seen == [0, 1, 2] and s.values == (0.0, 0.1, 0.2)


def test_every_verdict_is_reachable_from_constructed_differences():
    base = [0.80] * 5
    cases = {
        "held": [0.85, 0.86, 0.84, 0.85, 0.85],  # +5 points, tight
        "reversed": [0.75, 0.74, 0.76, 0.75, 0.75],  # -5 points, tight
        NO_EFFECT: [0.80, 0.81, 0.79, 0.80, 0.805],  # about 0, tight: rules out 5 points
        INCONCLUSIVE: [0.90, 0.70, 0.85, 0.75, 0.80],  # about 0, wide: cannot tell
    }
    got = {want: compare(a, base).verdict for want, a in cases.items()}
    assert got == {v: v for v in cases} and set(got) == set(VERDICTS)


def test_no_effect_depends_on_the_effect_that_matters():
    a, b = [0.81, 0.80, 0.82, 0.80, 0.81], [0.80] * 5  # +0.8 points, CI about [-0.2, +1.8]
    c = compare(a, b)
    assert c.verdict == NO_EFFECT and c.smallest_effect == SMALLEST_EFFECT
    assert c.verdict_text() == f"no effect above {100 * c.high:+.1f}"
    # the paper's effect of 1 point is not ruled out by an interval that reaches 1.8
    assert compare(a, b, smallest_effect=0.01).verdict == INCONCLUSIVE
    assert decide(-0.02, 0.049) == NO_EFFECT and decide(-0.02, 0.05) == INCONCLUSIVE
    with pytest.raises(ValueError, match="smallest_effect"):
        decide(-0.1, 0.1, smallest_effect=0.0)


def test_half_width_is_t_times_sd_over_root_n():
    # differences 0.05, 0.06, 0.07: sd 0.01, t(0.975, 2) = 4.302653
    c = compare([0.90, 0.91, 0.92], [0.85, 0.85, 0.85])
    assert c.half_width == pytest.approx(4.302653 * 0.01 / math.sqrt(3), abs=1e-6)
    assert c.half_width == pytest.approx((c.high - c.low) / 2)


def test_seeds_needed_is_the_fewest_seeds_whose_interval_is_narrow_enough():
    # sd 0.03 of the differences: 3 seeds give 4.30 * 0.03 / 1.73 = 0.0745, 4 seeds 3.18 * 0.03 / 2 = 0.0477
    assert seeds_needed(0.03, 0.05) == 4

    def with_sd(n, sd):  # n differences with sample sd exactly ``sd``
        z = [float(k) for k in range(n)]
        return [sd * v / summarize(z).sd for v in z]

    for n in (3, 4):
        d = with_sd(n, 0.03)
        assert math.isclose(compare([0.5 + x for x in d], [0.5] * n).diff.sd, 0.03)
    assert compare([0.5 + x for x in with_sd(4, 0.03)], [0.5] * 4).half_width <= 0.05
    assert compare([0.5 + x for x in with_sd(3, 0.03)], [0.5] * 3).half_width > 0.05
    assert seeds_needed(0.0, 0.05) == 2
    assert seeds_needed(0.2, 0.01, most=50) == 50
    assert seeds_needed(float("nan"), 0.05, most=7) == 7
    with pytest.raises(ValueError, match="half_width > 0"):
        seeds_needed(0.03, 0.0)
