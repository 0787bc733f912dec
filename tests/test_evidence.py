"""Verdicts on paired seed comparisons, against numbers worked out by hand."""

import math

import pytest

from avsnn.evidence import compare, over_seeds, summarize


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
    # differences +0.05, -0.04, +0.02: the interval contains zero
    assert compare([0.90, 0.81, 0.87], [0.85, 0.85, 0.85]).verdict == "not shown"
    assert compare([0.80, 0.81, 0.82], [0.85, 0.85, 0.85]).verdict == "reversed"
    # against one quoted number
    assert compare([0.90, 0.91, 0.92], [0.80]).verdict == "held"
    with pytest.raises(ValueError, match="paired"):
        compare([0.9, 0.8, 0.7], [0.1, 0.2])


def test_over_seeds_calls_each_seed_once():
    seen = []
    s = over_seeds(lambda seed: seen.append(seed) or seed / 10, [0, 1, 2])
    assert seen == [0, 1, 2] and s.values == (0.0, 0.1, 0.2)
