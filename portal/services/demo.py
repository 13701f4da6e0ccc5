"""Reference data every database needs, and the demo data anyone can try the portal with."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from flask import Flask, current_app
from sqlalchemy import func, select

from portal import audit
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
from portal.models.reference import TEAM_NAMES
from portal.services.passwords import hash_password
from portal.services.territories import find_territory_for

DEMO_DOMAIN = "example.com"
DEMO_TEAM_COUNTRY = "US"


def ensure_reference_data() -> None:
    """Create the teams every portal has, if missing. Safe to run again; commits."""
    existing = set(db.session.scalars(select(Team.key)))
    for key in TeamKey:
        if key not in existing:
            db.session.add(Team(key=key, name=str(TEAM_NAMES[key])))
    audit.ensure_head()
    db.session.commit()


PRODUCTS = [
    ("CVX", "Cardiovex", "Cardiology"),
    ("ONC", "Oncora", "Oncology"),
    ("RSP", "Respira", "Pulmonology"),
]

TERRITORIES = [
    ("US-NE", "US Northeast", "US", "0 1 2"),
    ("US-SO", "US South", "US", "3 7"),
    ("US-MW", "US Midwest", "US", "4 5 6"),
    ("US-WE", "US West", "US", "8 9"),
    ("DE", "Germany", "DE", ""),
    ("FR", "France", "FR", ""),
    ("ES", "Spain", "ES", ""),
    ("GB", "United Kingdom", "GB", ""),
]


@dataclasses.dataclass(frozen=True)
class DemoStaff:
    who: str
    name: str
    role: Role
    teams: tuple[TeamKey, ...]
    leads: tuple[TeamKey, ...] = ()
    territories: tuple[str, ...] = ()
    products: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class DemoHcp:
    who: str
    name: str
    profession: Profession
    specialty: str
    institution: str
    country: str
    postal_code: str
    npi: str | None
    licence: str | None
    verification: Verification
    rejection_reason: str | None = None
    # Outside the US the demo HCPs read the portal in their language and zone (portal/i18n.py).
    locale: str | None = None
    timezone: str | None = None


DEMO_STAFF = [
    DemoStaff(
        "rep", "Riley Rep", Role.REP, (TeamKey.SALES,), (), ("US-NE", "US-SO"), ("CVX", "RSP")
    ),
    DemoStaff(
        "access",
        "Avery Access",
        Role.MARKET_ACCESS,
        (TeamKey.MARKET_ACCESS,),
        (TeamKey.MARKET_ACCESS,),
        ("US-NE", "US-SO", "US-MW", "US-WE"),
        ("CVX", "ONC", "RSP"),
    ),
    DemoStaff(
        "msl",
        "Dr. Morgan Liaison",
        Role.MSL,
        (TeamKey.MSL,),
        (),
        ("US-NE", "US-WE"),
        ("CVX", "ONC", "RSP"),
    ),
    DemoStaff(
        "mi",
        "Mina Information",
        Role.MEDICAL_INFORMATION,
        (TeamKey.MEDICAL_INFORMATION,),
        (TeamKey.MEDICAL_INFORMATION,),
    ),
    DemoStaff(
        "pv",
        "Pat Vigilance",
        Role.PHARMACOVIGILANCE,
        (TeamKey.PHARMACOVIGILANCE,),
        (TeamKey.PHARMACOVIGILANCE,),
    ),
    DemoStaff("quality", "Quinn Quality", Role.QUALITY, (TeamKey.QUALITY,), (TeamKey.QUALITY,)),
    DemoStaff("content", "Casey Content", Role.CONTENT_MANAGER, (TeamKey.CONTENT,)),
    DemoStaff("reviewer", "Robin Reviewer", Role.MLR_REVIEWER, (TeamKey.MLR_REVIEW,)),
    DemoStaff("compliance", "Cameron Compliance", Role.COMPLIANCE, (TeamKey.COMPLIANCE,)),
    DemoStaff("admin", "Alex Admin", Role.ADMIN, ()),
    # Colleagues that make queues, territories and the firewall realistic.
    DemoStaff(
        "rep.west",
        "Jordan West",
        Role.REP,
        (TeamKey.SALES,),
        (TeamKey.SALES,),
        ("US-MW", "US-WE"),
        ("CVX", "ONC"),
    ),
    DemoStaff(
        "msl.south",
        "Dr. Sam Southern",
        Role.MSL,
        (TeamKey.MSL,),
        (TeamKey.MSL,),
        ("US-SO", "US-MW"),
        ("ONC", "RSP"),
    ),
    DemoStaff(
        "msl.eu",
        "Dr. Lena Vogel",
        Role.MSL,
        (TeamKey.MSL,),
        (),
        ("DE", "FR", "ES", "GB"),
        ("CVX", "ONC", "RSP"),
    ),
    DemoStaff("mi2", "Noah Information", Role.MEDICAL_INFORMATION, (TeamKey.MEDICAL_INFORMATION,)),
    DemoStaff("reviewer2", "Jamie Legal", Role.MLR_REVIEWER, (TeamKey.MLR_REVIEW,)),
]

DEMO_HCPS = [
    DemoHcp(
        "hcp",
        "Dr. Harper Cole",
        Profession.PHYSICIAN,
        "Cardiology",
        "Mount Sinai Hospital",
        "US",
        "10029",
        "1234567893",
        None,
        Verification.VERIFIED,
    ),
    DemoHcp(
        "hcp2",
        "Dr. Kai Nakamura",
        Profession.PHYSICIAN,
        "Oncology",
        "UCSF Medical Center",
        "US",
        "94143",
        "1987654328",
        None,
        Verification.VERIFIED,
    ),
    DemoHcp(
        "pending",
        "Dr. Pat Newcomer",
        Profession.PHYSICIAN,
        "Internal medicine",
        "Boston Medical Center",
        "US",
        "02118",
        "1456789019",
        None,
        Verification.PENDING,
    ),
    DemoHcp(
        "pharmacist",
        "Taylor Brooks, PharmD",
        Profession.PHARMACIST,
        "Hospital pharmacy",
        "Houston Methodist",
        "US",
        "77030",
        "1765432103",
        None,
        Verification.VERIFIED,
    ),
    DemoHcp(
        "np",
        "Jesse Rivera, NP",
        Profession.NURSE_PRACTITIONER,
        "Family medicine",
        "Cleveland Clinic",
        "US",
        "44195",
        "1666666668",
        None,
        Verification.VERIFIED,
    ),
    DemoHcp(
        "dr.mueller",
        "Dr. Anna Müller",
        Profession.PHYSICIAN,
        "Pulmonology",
        "Charité Berlin",
        "DE",
        "10117",
        None,
        "LAEK-BE-884213",
        Verification.VERIFIED,
        locale="de",
        timezone="Europe/Berlin",
    ),
    DemoHcp(
        "dr.garcia",
        "Dra. Lucía García",
        Profession.PHYSICIAN,
        "Cardiology",
        "Hospital Clínic de Barcelona",
        "ES",
        "08036",
        None,
        "COMB-28-41977",
        Verification.VERIFIED,
        locale="es",
        timezone="Europe/Madrid",
    ),
    DemoHcp(
        "dr.martin",
        "Dr. Hugo Martin",
        Profession.PHYSICIAN,
        "Oncology",
        "Institut Curie",
        "FR",
        "75005",
        None,
        "RPPS-10003456789",
        Verification.PENDING,
        locale="fr",
        timezone="Europe/Paris",
    ),
    DemoHcp(
        "rejected",
        "Chris Unverified",
        Profession.PHYSICIAN,
        "Dermatology",
        "Unknown Clinic",
        "US",
        "60601",
        "1333333338",
        None,
        Verification.REJECTED,
        "The NPI belongs to a different practitioner; please register with your own NPI.",
    ),
]

DEMO_LOGINS = [
    ("hcp", "Verified US physician (cardiology, US Northeast)"),
    ("hcp2", "Verified US physician (oncology, US West)"),
    ("pending", "HCP awaiting verification"),
    ("rep", "Sales representative"),
    ("access", "Market access specialist"),
    ("msl", "Medical science liaison"),
    ("mi", "Medical information specialist"),
    ("pv", "Pharmacovigilance officer"),
    ("quality", "Quality officer"),
    ("content", "Content manager"),
    ("reviewer", "MLR reviewer"),
    ("compliance", "Compliance auditor"),
    ("admin", "Administrator"),
]


def demo_email(who: str) -> str:
    return f"{who}@{DEMO_DOMAIN}"


@dataclasses.dataclass(frozen=True)
class SeedResult:
    loaded: bool  # this run added the demo data
    demo_present: bool  # the demo logins work in this database
    message: str


# Feature packages add their demo data here (materials, conversations...): each seeder runs
# after the accounts exist, must be idempotent, and returns a line for the log or None.
DemoSeeder = Callable[[], str | None]
_SEEDERS = "demo_seeders"  # app.extensions key: the app's seeders, in registration order


def register_demo_seeder(app: Flask, seeder: DemoSeeder) -> None:
    """Add a feature's demo data to ``app``'s ``seed-demo`` (a feature's ``init_app`` calls
    this; registering twice adds once)."""
    seeders: list[DemoSeeder] = app.extensions.setdefault(_SEEDERS, [])
    if seeder not in seeders:
        seeders.append(seeder)


def seed_demo() -> SeedResult:
    """Load the demo data into an empty database; commits.

    Runs again safely: when the demo data is already there nothing changes (a feature whose demo
    data is missing, e.g. added by a later release, gets it), and a database that holds other users
    is never given the demo accounts (their password is public). Audits ``demo.seeded`` and one
    ``user.created`` per account.
    """
    result = _seed_accounts()
    if not result.demo_present:
        return result
    seeders: list[DemoSeeder] = current_app.extensions.get(_SEEDERS, [])
    notes = [note for seeder in seeders if (note := seeder())]
    if not notes:
        return result
    return dataclasses.replace(result, message=" ".join([result.message, *notes]))


def _seed_accounts() -> SeedResult:
    ensure_reference_data()
    user_count = db.session.scalar(select(func.count()).select_from(User)) or 0
    if user_count:
        if db.session.scalar(select(User.id).where(User.email == demo_email("admin"))):
            return SeedResult(False, True, "Demo data is already loaded; nothing changed.")
        return SeedResult(
            False,
            False,
            "The database already holds users: demo accounts were not added "
            "(their password is public).",
        )
    password_hash = hash_password(current_app.config["DEMO_PASSWORD"])
    teams = {t.key: t for t in db.session.scalars(select(Team))}
    for team in teams.values():
        # The demo's teams sit with the company in the US (BUSINESS_TIMEZONE): their due times
        # skip US public holidays, Thanksgiving included, with no administrator typing them in.
        team.country = team.country or DEMO_TEAM_COUNTRY
    products = {}
    for code, name, area in PRODUCTS:
        products[code] = Product(code=code, name=name, therapeutic_area=area)
        db.session.add(products[code])
    territories = {}
    for code, name, country, prefixes in TERRITORIES:
        territories[code] = Territory(
            code=code, name=name, country=country, postal_prefixes=prefixes
        )
        db.session.add(territories[code])
    db.session.flush()

    now = utcnow()
    admin: User | None = None
    for spec in DEMO_STAFF:
        staff = User(
            email=demo_email(spec.who),
            name=spec.name,
            role=spec.role,
            password_hash=password_hash,
            email_confirmed_at=now,
        )
        staff.memberships = [
            TeamMembership(team=teams[k], is_lead=k in spec.leads) for k in spec.teams
        ]
        staff.territories = [territories[c] for c in spec.territories]
        staff.products = [products[c] for c in spec.products]
        db.session.add(staff)
        if spec.role is Role.ADMIN:
            admin = staff
    db.session.flush()
    for spec_hcp in DEMO_HCPS:
        hcp = User(
            email=demo_email(spec_hcp.who),
            name=spec_hcp.name,
            role=Role.HCP,
            password_hash=password_hash,
            email_confirmed_at=now,
            locale=spec_hcp.locale,
            timezone=spec_hcp.timezone,
        )
        decided = spec_hcp.verification is not Verification.PENDING
        hcp.hcp_profile = HcpProfile(
            profession=spec_hcp.profession,
            specialty=spec_hcp.specialty,
            institution=spec_hcp.institution,
            country=spec_hcp.country,
            postal_code=spec_hcp.postal_code,
            npi=spec_hcp.npi,
            licence_number=spec_hcp.licence,
            territory=find_territory_for(spec_hcp.country, spec_hcp.postal_code),
            verification=spec_hcp.verification,
            verified_at=now if decided else None,
            verified_by=admin if decided else None,
            rejection_reason=spec_hcp.rejection_reason,
        )
        db.session.add(hcp)
    db.session.flush()
    for user in db.session.scalars(select(User).order_by(User.id)):
        audit.record(
            None, "user.created", user, email=user.email, role=user.role.value, source="demo"
        )
    audit.record(None, "demo.seeded", None, users=len(DEMO_STAFF) + len(DEMO_HCPS))
    db.session.commit()
    return SeedResult(True, True, "Demo data loaded.")
