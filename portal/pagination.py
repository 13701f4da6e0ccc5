"""Long lists one page at a time: :func:`paginate` counts and reads a page in SQL, and
:func:`page_window` picks the page numbers to link under it (the first and last pages and a few
around the current one, however many pages there are: a year of audit records is thousands)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Generic, TypeVar

from sqlalchemy import Select, func, select

from portal.extensions import db

T = TypeVar("T")


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


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, and where it sits in the whole."""

    items: Sequence[T]
    page: int
    pages: int  # with ``capped``: the pages known so far (one past this one while it is full)
    total: int  # with ``capped``: the cap (there are more)
    capped: bool = False


def paginate(
    query: Select[T], *, page: int, page_size: int, count_cap: int | None = None
) -> Page[T]:
    """Count ``query``'s rows in SQL and read page ``page`` of them (``query`` carries its order).
    A page past the end shows the last one; before the first, the first.

    ``count_cap``: count no further than that (a year of audit records is hundreds of thousands,
    and PostgreSQL's COUNT reads every one): past it the total says "more than", any page may be
    asked for, and the last page known is the one after this while this one is full."""
    counted = query.order_by(None)
    if count_cap is not None:
        counted = counted.limit(count_cap + 1)
    total = int(db.session.scalar(select(func.count()).select_from(counted.subquery())) or 0)
    capped = count_cap is not None and total > count_cap
    if capped:
        assert count_cap is not None
        total = count_cap
    return read_page(query, page=page, page_size=page_size, total=total, capped=capped)


def read_page(
    query: Select[T], *, page: int, page_size: int, total: int, capped: bool = False
) -> Page[T]:
    """Page ``page`` of ``query``, whose rows the caller counted: ``total`` of them, or with
    ``capped`` more than that (see :func:`paginate`'s ``count_cap``)."""
    pages = max(1, -(-total // page_size))
    page = max(1, page) if capped else min(max(1, page), pages)
    read = page_size + 1 if capped else page_size
    items = db.session.scalars(query.offset((page - 1) * page_size).limit(read)).all()
    if capped:
        more = len(items) > page_size
        items = items[:page_size]
        pages = max(pages, page + 1 if more else page)
    return Page(items=items, page=page, pages=pages, total=total, capped=capped)
