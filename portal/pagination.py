"""Page numbers to show under a long list: the first and last pages and a few around the current
one, however many pages there are (a year of audit records is thousands of pages)."""

from __future__ import annotations


def page_window(page: int, pages: int, *, around: int = 2, edge: int = 1) -> list[int | None]:
    """The page numbers to link, in order, with ``None`` where a run of pages is left out:
    ``page_window(50, 100)`` -> ``[1, None, 48, 49, 50, 51, 52, None, 100]``."""
    shown = sorted(
        {n for n in range(1, min(edge, pages) + 1)}
        | {n for n in range(max(1, pages - edge + 1), pages + 1)}
        | {n for n in range(max(1, page - around), min(pages, page + around) + 1)}
    )
    window: list[int | None] = []
    for n in shown:
        if window and window[-1] is not None and n - window[-1] > 1:
            window.append(None)
        window.append(n)
    return window
