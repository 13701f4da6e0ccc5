"""The soak's verdict (``bench/soak.py``): the memory slope and the bounds it is judged by.

The soak itself takes minutes and belongs in ``bench/``; these are its pure parts."""

from __future__ import annotations

from typing import Any

import pytest

from bench.soak import (
    GROWTH_BOUND,
    SLOPE_BOUND_MB_PER_MIN,
    slope_per_minute,
    thirds_growth,
    verdict,
    warmup_seconds,
)


def test_slope_of_a_steady_leak_is_its_rate_per_minute() -> None:
    # 0.05 MB every 10 s sample is 0.3 MB per minute.
    points = [(t, 200 + 0.005 * t) for t in range(60, 301, 10)]
    assert slope_per_minute(points) == pytest.approx(0.3)


def test_slope_of_noise_around_a_flat_line_is_near_zero() -> None:
    points = [(float(t), 200 + (1.0 if i % 2 else -1.0)) for i, t in enumerate(range(60, 301, 10))]
    slope = slope_per_minute(points)
    assert slope is not None
    assert abs(slope) < 0.2


@pytest.mark.parametrize("points", [[], [(60.0, 200.0)], [(60.0, 200.0), (60.0, 210.0)]])
def test_slope_needs_two_distinct_times(points: list[tuple[float, float]]) -> None:
    assert slope_per_minute(points) is None


def test_warmup_is_a_minute_or_a_third_of_a_short_run() -> None:
    assert warmup_seconds(300) == 60
    assert warmup_seconds(60) == 20


def test_thirds_growth_compares_the_last_third_with_the_first() -> None:
    assert thirds_growth([100, 100, 101, 101, 110, 110]) == pytest.approx(10)
    assert thirds_growth([100, 101]) is None


def report(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "clients": 500,
        "connected": 500,
        "sent": 75_000,
        "lost": 0,
        "duplicated": 0,
        "out_of_order": 0,
        "errors": 0,
        "rss_slope_mb_per_min": 0.4,
        "rss_mb": {"start": 200.0, "end": 205.0, "peak": 206.0},
    }
    return base | overrides


def test_a_clean_flat_run_meets_every_bound() -> None:
    assert verdict(report()) == []


@pytest.mark.parametrize(
    ("overrides", "missed"),
    [
        ({"rss_slope_mb_per_min": SLOPE_BOUND_MB_PER_MIN + 0.1}, "RSS slope"),
        ({"rss_slope_mb_per_min": None}, "RSS slope"),
        ({"rss_mb": {"start": 200.0, "end": 200 * GROWTH_BOUND + 1, "peak": 260}}, "end RSS"),
        ({"lost": 1}, "lost 1"),
        ({"duplicated": 2}, "duplicated 2"),
        ({"out_of_order": 1}, "out_of_order 1"),
        ({"errors": 3}, "errors 3"),
        ({"connected": 499}, "connected 499 of 500"),
        ({"sent": 0}, "nothing sent"),
    ],
)
def test_a_run_missing_a_bound_says_which(overrides: dict[str, Any], missed: str) -> None:
    words = verdict(report(**overrides))
    assert len(words) == 1
    assert missed in words[0]
