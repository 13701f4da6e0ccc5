"""Which territory an address belongs to."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import Territory


def _normalize_postal(postal_code: str) -> str:
    return "".join(postal_code.split()).upper()


def find_territory_for(country: str, postal_code: str) -> Territory | None:
    """The territory covering this address: the longest matching postal prefix in the country,
    else the country's whole-country territory, else ``None``."""
    candidates = db.session.scalars(
        select(Territory).where(Territory.country == country.upper())
    ).all()
    postal = _normalize_postal(postal_code)
    best: Territory | None = None
    best_len = -1
    for territory in candidates:
        if not territory.prefixes:
            if best_len < 0:
                best, best_len = territory, 0
            continue
        for prefix in territory.prefixes:
            if postal.startswith(prefix.upper()) and len(prefix) > best_len:
                best, best_len = territory, len(prefix)
    return best
