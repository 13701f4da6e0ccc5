"""Cells of the CSV files the portal writes, safe to open in a spreadsheet.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (OWASP "CSV
injection"), and most of them skip leading spaces first; a leading tab or carriage return is a
way around naive checks. Names, titles, searches and anything else people typed go through
:func:`safe_cell`, which puts a ``'`` in front of such a cell so that it stays text.
"""

from __future__ import annotations

import io
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@")
CONTROL_STARTS = ("\t", "\r")


def safe_cell(value: Any) -> str:
    """``value`` as CSV cell text: ``""`` for ``None``; text that a spreadsheet would read as a
    formula (it starts with ``= + - @``, also after leading whitespace, or with a tab or
    carriage return) gets a leading ``'``. Numbers (``int``, ``float``, not ``bool``) are
    written as they are: a negative number is not a formula."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    if text[:1] in CONTROL_STARTS or text.lstrip()[:1] in FORMULA_STARTS:
        return "'" + text
    return text


def drain(buffer: io.StringIO) -> str:
    """What a streamed CSV's writer put in ``buffer`` since the last call, emptying it (one row
    or one batch of rows at a time goes out, so memory stays flat however long the file)."""
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate(0)
    return text
