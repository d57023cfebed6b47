"""Syntetos–Boylan classification: each quadrant, censored days and launches left out."""

from __future__ import annotations

import numpy as np
import pytest

from sincro.forecasting import patterns as P
from tests.forecasting import synthetic as S


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (S.seasonal, P.SMOOTH),
        (S.erratic, P.ERRATIC),
        (S.intermittent, P.INTERMITTENT),
        (S.lumpy, P.LUMPY),
    ],
)
def test_each_quadrant_is_recognised(make, expected) -> None:
    y = make(np.random.default_rng(3))
    assert P.classify(y).pattern == expected


def test_cut_offs_are_the_published_ones() -> None:
    assert P.pattern_of(1.31, 0.48) == P.SMOOTH
    assert P.pattern_of(1.32, 0.48) == P.INTERMITTENT
    assert P.pattern_of(1.31, 0.49) == P.ERRATIC
    assert P.pattern_of(1.32, 0.49) == P.LUMPY


def test_adi_and_cv2_by_hand() -> None:
    adi, cv2, observed = P.measure(np.array([0, 0, 4, 0, 2, 0, 0, 6.0]))
    # leading zeros dropped: 6 periods, 3 demands; sizes 4, 2, 6: mean 4, var 8/3
    assert adi == pytest.approx(2.0)
    assert cv2 == pytest.approx((8 / 3) / 16)
    assert observed == 6


def test_censored_days_are_neither_demand_nor_zero() -> None:
    y = np.array([5.0, 6, 0, 0, 0, 0, 5, 6, 5, 6])
    stockout = np.array([0, 0, 1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    assert P.classify(y).pattern == P.INTERMITTENT
    masked = P.classify(y, stockout)
    assert masked.pattern == P.SMOOTH and masked.adi == 1.0 and masked.observed == 6


def test_no_demand_at_all_and_too_few_points() -> None:
    assert P.classify(np.zeros(30)).pattern == P.INTERMITTENT
    assert P.classify(np.array([1.0, 2.0]), min_observed=5).pattern == P.SHORT
