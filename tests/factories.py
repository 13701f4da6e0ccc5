"""Small factories with unique values, and the personas that permission tests talk about."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import (
    HcpProfile,
    Product,
    Profession,
    Role,
    Team,
    TeamKey,
    TeamMembership,
    Territory,
    User,
    Verification,
    utcnow,
)
from portal.npi import NPI_PREFIX, _luhn_check_digit
from portal.services.passwords import _hasher_for

PASSWORD = "correct-horse-battery-2026"
_PASSWORD_HASH = _hasher_for("cheapest").hash(PASSWORD)  # the test apps' profile
_counter = itertools.count(1)


def unique(prefix: str = "x") -> str:
    return f"{prefix}{next(_counter)}"


def valid_npi(nine_digits: str | None = None) -> str:
    """A valid NPI: nine digits starting with 1 plus the Luhn-over-80840 check digit."""
    body = nine_digits or f"1{next(_counter) + 10_000_000:08d}"[:9]
    return body + str(_luhn_check_digit(NPI_PREFIX + body))


def team(key: TeamKey) -> Team:
    found = db.session.scalar(select(Team).where(Team.key == key))
    assert found is not None, "reference data (teams) is missing"
    return found


def make_territory(**overrides: Any) -> Territory:
    code = overrides.pop("code", unique("T-"))
    territory = Territory(
        code=code,
        name=overrides.pop("name", f"Territory {code}"),
        country=overrides.pop("country", "US"),
        postal_prefixes=overrides.pop("postal_prefixes", ""),
        **overrides,
    )
    db.session.add(territory)
    db.session.commit()
    return territory


def make_product(**overrides: Any) -> Product:
    code = overrides.pop("code", unique("P"))
    product = Product(
        code=code,
        name=overrides.pop("name", f"Product {code}"),
        therapeutic_area=overrides.pop("therapeutic_area", "Cardiology"),
        **overrides,
    )
    db.session.add(product)
    db.session.commit()
    return product


DEFAULT_TEAM = {
    Role.REP: TeamKey.SALES,
    Role.MARKET_ACCESS: TeamKey.MARKET_ACCESS,
    Role.MSL: TeamKey.MSL,
    Role.MEDICAL_INFORMATION: TeamKey.MEDICAL_INFORMATION,
    Role.PHARMACOVIGILANCE: TeamKey.PHARMACOVIGILANCE,
    Role.QUALITY: TeamKey.QUALITY,
    Role.CONTENT_MANAGER: TeamKey.CONTENT,
    Role.MLR_REVIEWER: TeamKey.MLR_REVIEW,
    Role.COMPLIANCE: TeamKey.COMPLIANCE,
}


def make_user(
    role: Role = Role.REP,
    *,
    territories: Iterable[Territory] = (),
    products: Iterable[Product] = (),
    **overrides: Any,
) -> User:
    """A staff member (or, with ``role=Role.HCP``, a verified HCP: see :func:`make_hcp`)."""
    if role is Role.HCP:
        return make_hcp(**overrides)
    name = overrides.pop("name", unique("Staff "))
    user = User(
        email=overrides.pop("email", f"{unique(role.value)}@company.test"),
        name=name,
        role=role,
        password_hash=_PASSWORD_HASH,
        email_confirmed_at=utcnow(),
        **overrides,
    )
    if role in DEFAULT_TEAM:
        user.memberships = [TeamMembership(team=team(DEFAULT_TEAM[role]))]
    user.territories = list(territories)
    user.products = list(products)
    db.session.add(user)
    db.session.commit()
    return user


def make_hcp(
    *,
    verification: Verification = Verification.VERIFIED,
    country: str = "US",
    territory: Territory | None = None,
    **overrides: Any,
) -> User:
    user = User(
        email=overrides.pop("email", f"{unique('hcp')}@clinic.test"),
        name=overrides.pop("name", unique("Dr. Test ")),
        role=Role.HCP,
        password_hash=_PASSWORD_HASH,
        email_confirmed_at=overrides.pop("email_confirmed_at", utcnow()),
        suspended=overrides.pop("suspended", False),
    )
    user.hcp_profile = HcpProfile(
        profession=overrides.pop("profession", Profession.PHYSICIAN),
        specialty=overrides.pop("specialty", "Cardiology"),
        institution=overrides.pop("institution", "General Hospital"),
        country=country,
        postal_code=overrides.pop("postal_code", "10001" if country == "US" else "10117"),
        npi=overrides.pop("npi", valid_npi() if country == "US" else None),
        licence_number=overrides.pop("licence_number", None if country == "US" else unique("LIC-")),
        verification=verification,
        territory=territory,
        **overrides,
    )
    db.session.add(user)
    db.session.commit()
    return user
