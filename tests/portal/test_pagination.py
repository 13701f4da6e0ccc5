"""Long lists link the first and last pages and a few around the current one, never every page."""

from __future__ import annotations

import pytest

from portal.pagination import page_window


@pytest.mark.parametrize(
    ("page", "pages", "expected"),
    [
        (1, 1, [1]),
        (1, 4, [1, 2, 3, 4]),
        (50, 100, [1, None, 48, 49, 50, 51, 52, None, 100]),
        (1, 100, [1, 2, 3, None, 100]),
        (100, 100, [1, None, 98, 99, 100]),
        (4, 8, [1, 2, 3, 4, 5, 6, None, 8]),
    ],
)
def test_the_window_keeps_the_ends_and_the_neighbours(page, pages, expected):
    assert page_window(page, pages) == expected


def test_a_year_of_pages_links_a_handful():
    window = page_window(25_000, 50_000, edge=3)
    assert window == [
        1,
        2,
        3,
        None,
        24_998,
        24_999,
        25_000,
        25_001,
        25_002,
        None,
        49_998,
        49_999,
        50_000,
    ]
