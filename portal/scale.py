"""``flask seed-scale``: a realistic large portal on top of the demo data, for load tests.

At ``factor=1.0``: 50,000 HCPs, 100,000 material versions, 200,000 questions with their threads,
history and PV cases, 2,000,000 chat messages, a year of material views and downloads, of logins
and of audit records, and notifications; and a year of the account team's work: about a contact a
month with each HCP of the territories the demo's reps and MSLs cover (call notes on both sides of
the firewall, material shares, meetings, plan notes) and contact preferences with their history.
The demo logins get the heavy share, so every role's main page is realistically heavy for them:
the demo HCP has hundreds of questions, chats with thousands of messages, a year of views and
hundreds of call notes, shares and meetings on her record; the demo rep's and MSL's teams get
thousands of open questions and conversations; PV gets thousands of cases; the content manager
authors most of the library.

This module writes every feature's tables directly, with SQLAlchemy Core bulk inserts in chunks,
as a restore would: going through the services row by row would take hours. What the services
guarantee is kept by construction: valid NPIs, unique e-mails, gap-free per-conversation message
numbers with a consent period per conversation, a hash chain that still verifies (through
:func:`portal.audit.record_many`), and a full-text index holding every approved version. Everything
is written in one transaction: a failure leaves the database as it was.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import operator
import random
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from flask import current_app
from sqlalchemy import JSON, Connection, Date, Enum, Table, func, select, text, update

from chat.models import (
    ConsentPeriod,
    Conversation,
    ConversationState,
    Message,
    MessageKind,
    ReadState,
)
from content.corpus import generate
from content.models import (
    Bookmark,
    Classification,
    EventKind,
    Material,
    MaterialEvent,
    MaterialReview,
    MaterialStatus,
    ReviewDecision,
    SearchTerm,
)
from portal import audit
from portal.accounts.models import (
    CallNote,
    Contact,
    ContactChannel,
    ContactKind,
    ContactPreferences,
    InteractionKind,
    MaterialShare,
    Meeting,
    MeetingMode,
    MeetingState,
    PlanNote,
    PreferenceChange,
)
from portal.errors import Conflict, InvalidInput
from portal.extensions import db
from portal.models import (
    HcpProfile,
    Notification,
    Product,
    Profession,
    Role,
    Side,
    Team,
    TeamKey,
    TeamMembership,
    Territory,
    User,
    UTCDateTime,
    Verification,
    utcnow,
)
from portal.models.reference import SPECIALTIES
from portal.models.user import staff_products, staff_territories
from portal.npi import is_valid_npi
from portal.policy import side_of
from portal.questions.models import (
    QUEUE_TEAMS,
    Category,
    Channel,
    EntryKind,
    Question,
    QuestionAttachment,
    QuestionEntry,
    QuestionEvent,
    QuestionEventKind,
    QuestionStatus,
    Urgency,
)
from portal.safety.models import CaseOrigin, PvCase, PvCaseStatus
from portal.services import demo
from portal.services.consent import current_wording
from portal.services.passwords import hash_password

SCALE_DOMAIN = "scale.example.com"
CHUNK = 5000
DAY = dt.timedelta(days=1)
YEAR = 365 * DAY

# Rows at factor 1.0 (the "at least" figures, and what makes pages heavy around them).
BASE = {
    "hcps": 50_000,
    "staff": 400,
    "materials": 100_000,
    "questions": 200_000,
    "conversations": 20_000,
    "messages": 2_000_000,
    "material_events": 1_000_000,
    "bookmarks": 50_000,
    "notifications": 300_000,
    "logins": 200_000,
    "meetings": 4_000,  # meeting requests either way, between HCPs and their reps or MSLs
    "search_terms": 30_000,  # (day, query) rows of the library's search log: ~80 queries a day
}
# The demo logins' share at factor 1.0.
DEMO_SHARE = {
    "hcp_questions": 400,
    "hcp2_questions": 100,
    "hcp_messages": 3000,  # appended to each of the demo HCP's chats
    "hcp_events": 3000,
    "hcp_bookmarks": 150,
    "hcp_notifications": 500,
    "staff_conversations": 1500,  # the demo rep's and the demo MSL's, each
    "staff_notifications": 1000,  # each demo staff member's
    # The demo HCP's account-team record (beside the year of contacts every HCP gets).
    "hcp_call_notes": 300,
    "hcp_shares": 150,
    "hcp_meetings": 80,
    "hcp_preference_changes": 40,
    "staff_meetings": 200,  # the demo rep's and the demo MSL's, each
}
# The account team: unsolicited and asked-for contacts a year per HCP of the covered territories
# (about one a month), and what one field colleague can make in a year (a territory with fewer
# colleagues than its HCPs need, as Europe with one MSL, has its HCPs contacted less often).
CONTACTS_PER_HCP = 12
STAFF_CAPACITY = 3000
PREFERENCES_SHARE = 0.2  # HCPs who set their contact preferences

STAFF_ROLES = [
    (Role.REP, TeamKey.SALES),
    (Role.MSL, TeamKey.MSL),
    (Role.MEDICAL_INFORMATION, TeamKey.MEDICAL_INFORMATION),
    (Role.MARKET_ACCESS, TeamKey.MARKET_ACCESS),
    (Role.PHARMACOVIGILANCE, TeamKey.PHARMACOVIGILANCE),
    (Role.QUALITY, TeamKey.QUALITY),
    (Role.CONTENT_MANAGER, TeamKey.CONTENT),
    (Role.MLR_REVIEWER, TeamKey.MLR_REVIEW),
    (Role.REP, TeamKey.SALES),
    (Role.MSL, TeamKey.MSL),
    (Role.MEDICAL_INFORMATION, TeamKey.MEDICAL_INFORMATION),
    (Role.COMPLIANCE, TeamKey.COMPLIANCE),
]
FIELD_TEAMS = (TeamKey.SALES, TeamKey.MSL, TeamKey.MARKET_ACCESS)
FIRST_NAMES = """Alex Sam Jordan Taylor Morgan Casey Riley Jamie Robin Avery Quinn Drew Emery Hayden
Kendall Logan Parker Reese Rowan Sage Skyler Blake Cameron Dakota Elliot Finley Harper Jesse Kai
Lane Maria Wei Aisha Lukas Sofia Mateo Chloe Noah Amara Ingrid Pierre Elena Hiroshi
Fatima""".split()
LAST_NAMES = """Smith Johnson Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Wilson Anderson
Thomas Moore Jackson Martin Lee Thompson White Harris Clark Lewis Walker Hall Young King Wright
Scott Green Baker Adams Nelson Hill Campbell Mitchell Roberts Carter Phillips Evans Turner Torres
Müller Schmidt Dubois Moreau Fernández Sánchez Rossi Kowalski Nakamura Okafor Patel Chen""".split()
INSTITUTIONS = """General Hospital|University Medical Center|Community Clinic|Heart Institute|
Cancer Center|Family Practice|Regional Medical Center|Children's Hospital|Lung Center|
Health Partners|Medical Group|Pharmacy Services""".replace("\n", "").split("|")
# Country, share of HCPs; US postal codes spread over every first digit (so every territory).
COUNTRIES = [("US", 0.78), ("DE", 0.06), ("FR", 0.05), ("ES", 0.04), ("GB", 0.05), ("CA", 0.02)]
CATEGORY_WEIGHTS = [
    (Category.CLINICAL, 22),
    (Category.DOSING, 18),
    (Category.SAFETY, 8),
    (Category.OFF_LABEL, 6),
    (Category.ADVERSE_EVENT, 8),
    (Category.QUALITY, 3),
    (Category.SAMPLES, 15),
    (Category.ACCESS, 12),
    (Category.OTHER, 8),
]
QUESTION_TEXTS = [
    "What is the recommended dose of {p} for patients with moderate renal impairment?",
    "Are there data on {p} in patients over 75 years with heart failure?",
    "Could you send the latest study summary on {p} and its long-term safety?",
    "How should {p} be titrated when switching from another agent?",
    "Is there an interaction between {p} and common anticoagulants?",
    "My patient developed a rash and dizziness after starting {p} 10 mg last week.",
    "Which patient support programme covers {p} co-pays?",
    "Could I get starter samples of {p} for my clinic?",
    "Is there any evidence for {p} in an indication outside the label?",
    "A pack of {p} arrived damaged; the patient was not exposed.",
]
REPLIES = [
    "Thank you for your question. Please find the requested information attached.",
    "The prescribing information recommends no adjustment for mild impairment; see section 4.2.",
    "Our medical information team has prepared a summary of the available data for you.",
    "I have arranged for samples to be sent to your clinic this week.",
]
CHAT_LINES = [
    ("hcp", "Do you have the latest data on long-term outcomes?"),
    ("staff", "Yes, I can share the summary of the five-year extension study."),
    ("hcp", "Thanks. Any update on the dosing guide for elderly patients?"),
    ("staff", "The revised dosing guide was approved last month; I will send it over."),
    ("hcp", "Great, my team will review it this week."),
    ("staff", "Let me know if you have any questions about it."),
    ("hcp", "Could we meet next Tuesday to discuss the new indication?"),
    ("staff", "Tuesday works; I will bring the slide deck."),
]
# Call notes, per side of the firewall: (topics, summary).
CALL_NOTES = {
    Side.COMMERCIAL: [
        ("Product update", "Routine visit: product updates and the patient-support programme."),
        ("Formulary, access", "Discussed formulary status and access for new patients."),
        ("Samples", "Left starter samples and the updated patient brochure."),
        ("Co-pay programme", "Went through the co-pay programme with the practice manager."),
    ],
    Side.MEDICAL: [
        ("Outcomes data", "Scientific exchange on the latest outcomes data she requested."),
        ("Guideline update", "Discussed the new guideline and the evidence behind it."),
        ("Trial criteria", "Answered questions on the extension study's inclusion criteria."),
        ("Real-world evidence", "Reviewed the real-world evidence on long-term safety."),
    ],
}
INBOUND_NOTE = ("Storage", "Inbound call: storage and handling; the standard response was sent.")
FOLLOW_UPS = [
    "Send the dosing guide",
    "Share the study summary",
    "Ask about the formulary committee date",
    "Arrange a call with Medical Information",
]
PLAN_TEXTS = [
    "Next visit: bring the new patient brochures; ask about the formulary committee date.",
    "Follow up on the data request once Medical Information answers.",
    "Discuss enrolment in the patient-support programme with the practice manager.",
    "Present the updated dosing guide for elderly patients.",
]
MEETING_TOPICS = [
    "Formulary status",
    "New outcomes data",
    "Patient-support programme",
    "Trial enrolment criteria",
    "Dosing in elderly patients",
]
SHARE_NOTES = ["", "", "As discussed at your office.", "The summary I mentioned on the phone."]
INTERACTIONS = [
    InteractionKind.VISIT,
    InteractionKind.PHONE,
    InteractionKind.VIDEO,
    InteractionKind.EMAIL,
    InteractionKind.EVENT,
]
INTERACTION_WEIGHTS = [40, 25, 15, 12, 8]
QUIET_HOURS = [("19:00", "08:00"), ("18:00", "09:00"), ("20:00", "07:30"), ("12:00", "14:00")]


@dataclasses.dataclass(frozen=True)
class ScaleResult:
    """What :func:`seed_scale` wrote: rows added per table, and the seconds it took."""

    counts: dict[str, int]
    seconds: float


def scaled(name: str, factor: float, *, minimum: int = 1) -> int:
    """The number of ``name`` rows (see ``BASE`` and ``DEMO_SHARE``) at ``factor``."""
    base = BASE.get(name, DEMO_SHARE.get(name, 0))
    return max(minimum, round(base * factor))


def seed_scale(
    *, factor: float = 1.0, seed: int = 2026, log: Callable[[str], None] | None = None
) -> ScaleResult:
    """Add the scale data (``BASE`` rows times ``factor``) on top of the demo data; commits once.

    For the CLI (``flask seed-scale``) and load tests only. Raises ``InvalidInput`` when
    ``factor`` is not positive or the database has no demo data (run ``flask seed-demo`` first),
    and ``Conflict`` when it already holds scale data; nothing is written then. Audit records: one
    ``user.created`` per account, ``material.created`` per version, ``question.submit`` per
    question, ``pv_case.open`` per case, ``chat.consent_given`` per conversation and a year of
    ``session.started``, dated when they happened (chat messages and the account team's records
    are not audited one by one here). No real-time events, no mail.
    """
    if not factor > 0:
        raise InvalidInput("The factor must be a positive number.")
    if db.session.scalar(select(User.id).where(User.email == demo.demo_email("admin"))) is None:
        raise InvalidInput("This database has no demo data: run `flask seed-demo` first.")
    if db.session.scalar(select(User.id).where(User.email.endswith(f"@{SCALE_DOMAIN}")).limit(1)):
        raise Conflict("This database already holds the scale data: nothing was added.")
    # current_wording may create and commit a wording: before anything else is written.
    question_wording = current_wording("question_contact").id
    chat_wording = current_wording("chat").id
    started = time.perf_counter()
    loader = _Loader(factor, seed, log or (lambda message: None))
    try:
        loader.run(question_wording=question_wording, chat_wording=chat_wording)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    loader.analyze()
    return ScaleResult(counts=dict(loader.counts), seconds=round(time.perf_counter() - started, 2))


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _sqlite_time(value: dt.datetime) -> str:
    # As UTCDateTime stores it on SQLite: naive UTC, SQLAlchemy's text format.
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    return value.isoformat(" ", "microseconds")[:26]


def _enum_value(value: Any) -> str:
    return str(value.value) if isinstance(value, enum.Enum) else str(value)


def _sqlite_json(value: Any) -> str:
    return "[]" if value == [] else json.dumps(value)


def _converter(column_type: Any, dialect: str) -> Callable[[Any], Any] | None:
    """What a Python value of ``column_type`` becomes for the driver (None: as it is)."""
    if isinstance(column_type, UTCDateTime):
        return _sqlite_time if dialect == "sqlite" else None
    if isinstance(column_type, Enum):
        # A StrEnum member's str() is its value: the cheap conversion for every enum here.
        enum_class = getattr(column_type, "enum_class", None)
        return str if enum_class and issubclass(enum_class, enum.StrEnum) else _enum_value
    if isinstance(column_type, Date) and dialect == "sqlite":
        return dt.date.isoformat  # as SQLAlchemy stores a date there (no driver adapter)
    if isinstance(column_type, JSON):
        if dialect == "sqlite":
            return _sqlite_json
        from psycopg.types.json import Json  # only PostgreSQL needs the driver's wrapper

        return Json
    return None


def _with_check_digit(first_nine: str) -> str:
    return next(f"{first_nine}{d}" for d in range(10) if is_valid_npi(f"{first_nine}{d}"))


class _Loader:
    """One run: the connection, the random source, what was written so far."""

    def __init__(self, factor: float, seed: int, log: Callable[[str], None]) -> None:
        self.factor = factor
        self.rng = random.Random(seed)  # noqa: S311 - reproducible data, not secrets
        self.seed = seed
        self.log = log
        self.now = utcnow()
        self.counts: dict[str, int] = {}
        self._calendars: dict[TeamKey, Any] = {}  # the business calendar of each team
        self.connection: Connection = db.session.connection()
        self.dialect = self.connection.dialect.name
        self.started = time.perf_counter()
        # One transaction for the whole load: SQLite syncs the write-ahead log at its commit
        # only, so relaxing PRAGMA synchronous would gain little (and cannot be undone inside it).
        # Its page cache (2 MB by default) is what keeps a million rows' index updates off the
        # disk: 256 MB while loading, the connection's own size again afterwards.
        self._cache_size: int | None = None
        if self.dialect == "sqlite":
            self._cache_size = int(
                self.connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
            )
            self.connection.exec_driver_sql("PRAGMA cache_size=-262144")

    # --- plumbing -----------------------------------------------------------------------------
    def n(self, name: str, *, minimum: int = 1) -> int:
        return scaled(name, self.factor, minimum=minimum)

    def next_id(self, model: Any) -> int:
        table = _table(model)
        return int(self.connection.execute(select(func.max(table.c.id))).scalar() or 0) + 1

    def insert(self, model: Any, rows: Iterable[dict[str, Any]]) -> int:
        """Insert ``rows`` (dicts with the same keys, one per column written) in chunks;
        returns how many."""
        table = _table(model) if not isinstance(model, Table) else model
        chunk: list[dict[str, Any]] = []
        written = 0
        for row in rows:
            chunk.append(row)
            if len(chunk) == CHUNK:
                self._execute_many(table, chunk)
                written += len(chunk)
                chunk = []
        if chunk:
            self._execute_many(table, chunk)
            written += len(chunk)
        self.counts[table.name] = self.counts.get(table.name, 0) + written
        return written

    def _execute_many(self, table: Table, rows: list[dict[str, Any]]) -> None:
        # The driver's executemany with values converted here once per column type: SQLAlchemy's
        # per-row parameter processing was most of the time of a load (~60 us a row).
        names = list(rows[0])
        converters = [
            (position, fn)
            for position, name in enumerate(names)
            if (fn := _converter(table.c[name].type, self.dialect)) is not None
        ]
        marker = "?" if self.dialect == "sqlite" else "%s"
        sql = (
            f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608 - names from the model
            f"VALUES ({', '.join([marker] * len(names))})"
        )
        pick = operator.itemgetter(*names)
        values = []
        for row in rows:
            value = list(pick(row)) if len(names) > 1 else [row[names[0]]]
            for position, fn in converters:
                if value[position] is not None:
                    value[position] = fn(value[position])
            values.append(tuple(value))
        self.connection.exec_driver_sql(sql, values)

    def step(self, message: str) -> None:
        self.log(f"[{time.perf_counter() - self.started:6.1f}s] {message}")

    def past(self, within: dt.timedelta = YEAR) -> dt.datetime:
        """A random moment in the last ``within``, more of them recent."""
        fraction = self.rng.random() ** 1.5
        return self.now - within * fraction - dt.timedelta(minutes=1)

    def analyze(self) -> None:
        """Fresh planner statistics for the tables written: the pages' plans depend on them at
        this size (only those tables: a shared PostgreSQL server holds other schemas too). On
        PostgreSQL also VACUUM, as autovacuum does to a year-old database: until the visibility
        map is set, an index-only scan (the staff panel's counts) still reads every row."""
        names = [name for name in self.counts if name != "material_search"]
        command = "ANALYZE"
        if self.dialect == "postgresql":
            names.append("material_search")
            command = "VACUUM (ANALYZE)"
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for name in names:
                connection.exec_driver_sql(f"{command} {name}")

    # --- the run ------------------------------------------------------------------------------
    def run(self, *, question_wording: int, chat_wording: int) -> None:
        try:
            self._run(question_wording=question_wording, chat_wording=chat_wording)
        finally:
            if self._cache_size is not None:
                self.connection.exec_driver_sql(f"PRAGMA cache_size={self._cache_size}")

    def _run(self, *, question_wording: int, chat_wording: int) -> None:
        self.load_reference()
        self.step("staff")
        self.seed_staff()
        self.step("HCPs")
        self.seed_hcps()
        self.step("materials")
        self.seed_materials()
        self.step("account team")
        self.seed_account_team()
        self.step("views, downloads and bookmarks")
        self.seed_events()
        self.step("search log")
        self.seed_search_terms()
        self.step("questions")
        self.seed_questions(question_wording)
        self.step("chats")
        self.seed_chats(chat_wording)
        self.step("notifications")
        self.seed_notifications()
        self.step("audit trail")
        self.seed_audit()
        self.step("search index")
        self.index_materials()
        if self.dialect == "postgresql":
            self.fix_sequences()
        self.step("done")

    def load_reference(self) -> None:
        emails = {demo.demo_email(s.who): s.who for s in demo.DEMO_STAFF}
        emails |= {demo.demo_email(h.who): h.who for h in demo.DEMO_HCPS}
        rows = self.connection.execute(
            select(User.id, User.email).where(User.email.in_(list(emails)))
        ).all()
        self.demo = {emails[row.email]: row.id for row in rows}
        self.demo_email = {row.id: row.email for row in rows}
        self.teams = {
            TeamKey(row.key): row.id for row in self.connection.execute(select(Team.id, Team.key))
        }
        self.territories = self.connection.execute(
            select(Territory.id, Territory.code, Territory.country, Territory.postal_prefixes)
        ).all()
        self.products = self.connection.execute(
            select(Product.id, Product.code, Product.name, Product.therapeutic_area)
        ).all()
        if not self.products:
            raise InvalidInput("This database has no demo products: run `flask seed-demo` first.")
        # Who answers what: team -> member ids, the demo staff first (they get a larger share).
        self.members: dict[TeamKey, list[int]] = {key: [] for key in TeamKey}
        for row in self.connection.execute(select(TeamMembership.user_id, TeamMembership.team_id)):
            key = next(k for k, v in self.teams.items() if v == row.team_id)
            self.members[key].append(row.user_id)
        self.demo_members = {key: list(ids) for key, ids in self.members.items()}
        # A real hash of a password nobody knows: the loaded accounts cannot sign in.
        self.password_hash = hash_password(secrets.token_urlsafe(24))

    def territory_for(self, country: str, postal: str) -> int | None:
        best, best_len = None, -1
        for territory in self.territories:
            if territory.country != country:
                continue
            prefixes = territory.postal_prefixes.split()
            if not prefixes and best_len < 0:
                best, best_len = territory.id, 0
            for prefix in prefixes:
                if postal.startswith(prefix) and len(prefix) > best_len:
                    best, best_len = territory.id, len(prefix)
        return best

    def name(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    # --- people -------------------------------------------------------------------------------
    def seed_staff(self) -> None:
        first = self.next_id(User)
        count = self.n("staff", minimum=len(STAFF_ROLES))
        users, memberships, territories, products = [], [], [], []
        us_territories = [t.id for t in self.territories if t.country == "US"]
        for number in range(count):
            role, team = STAFF_ROLES[number % len(STAFF_ROLES)]
            user_id = first + number
            users.append(
                self._user(user_id, f"staff{number:05d}@{SCALE_DOMAIN}", self.name(), role)
            )
            memberships.append(
                {"user_id": user_id, "team_id": self.teams[team], "is_lead": number < 12}
            )
            self.members[team].append(user_id)
            if team in FIELD_TEAMS:
                for territory_id in self.rng.sample(us_territories, 2):
                    territories.append({"user_id": user_id, "territory_id": territory_id})
                for product in self.products:
                    products.append({"user_id": user_id, "product_id": product.id})
        self.insert(User, users)
        self.insert(TeamMembership, memberships)
        self.insert(staff_territories, territories)
        self.insert(staff_products, products)
        self.staff_ids = [u["id"] for u in users]

    def _user(self, user_id: int, email: str, name: str, role: Role) -> dict[str, Any]:
        created = self.now - YEAR - DAY * self.rng.randint(1, 700)
        return {
            "id": user_id, "email": email, "name": name, "password_hash": self.password_hash,
            "role": role, "suspended": False, "email_confirmed_at": created,
            "created_at": created, "last_login_at": self.past(), "failed_logins": 0,
            "session_version": 1,
        }  # fmt: skip

    def seed_hcps(self) -> None:
        first = self.next_id(User)
        count = self.n("hcps")
        admin = self.demo.get("admin")
        self.hcp_first = first
        self.verified: list[int] = []

        def users() -> Iterator[dict[str, Any]]:
            for number in range(count):
                email = f"hcp{number:06d}@{SCALE_DOMAIN}"
                row = self._user(first + number, email, "Dr. " + self.name(), Role.HCP)
                yield row

        def profiles() -> Iterator[dict[str, Any]]:
            rng = self.rng
            countries = [c for c, _ in COUNTRIES]
            weights = [w for _, w in COUNTRIES]
            for number in range(count):
                user_id = first + number
                country = rng.choices(countries, weights)[0]
                if country == "US":
                    postal = f"{rng.randrange(100000):05d}"
                    # 17 + seven digits: clear of every demo NPI.
                    npi: str | None = _with_check_digit(f"17{number:07d}")
                    licence = None
                else:
                    postal = f"{rng.randrange(10000, 99999)}"
                    npi, licence = None, f"{country}-LIC-{number:07d}"
                roll = rng.random()
                verification = (
                    Verification.VERIFIED
                    if roll < 0.86
                    else Verification.PENDING
                    if roll < 0.95
                    else Verification.REJECTED
                )
                decided = verification is not Verification.PENDING
                if verification is Verification.VERIFIED:
                    self.verified.append(user_id)
                yield {
                    "user_id": user_id,
                    "profession": rng.choice(list(Profession)),
                    "specialty": rng.choice(SPECIALTIES),
                    "institution": f"{rng.choice(LAST_NAMES)} {rng.choice(INSTITUTIONS)}",
                    "country": country,
                    "postal_code": postal,
                    "npi": npi,
                    "licence_number": licence,
                    "territory_id": self.territory_for(country, postal),
                    "verification": verification,
                    "verified_at": self.past() if decided else None,
                    "verified_by_id": admin if decided else None,
                    "rejection_reason": "The licence could not be confirmed."
                    if verification is Verification.REJECTED
                    else None,
                    "updated_at": self.now,
                }

        self.insert(User, users())
        self.insert(HcpProfile, profiles())
        self.count_hcps = count

    # --- library ------------------------------------------------------------------------------
    def seed_materials(self) -> None:
        first = self.next_id(Material)
        self.first_material = first
        author = self.demo["content"]
        others = [
            uid for uid in self.members[TeamKey.CONTENT] if uid != author
        ] or [author]  # fmt: skip
        reviewer = self.demo.get("reviewer")
        _, batches = generate(
            self.n("materials"),
            self.seed,
            product_ids=[(p.id, p.therapeutic_area) for p in self.products],
            author_id=author,
            now=self.now,
            first_id=first,
            code_prefix=f"SC{self.seed}",
            body_length=(60, 140),
            batch_size=CHUNK,
        )
        self.live: list[tuple[int, int]] = []  # published (id, family)
        reviews: list[dict[str, Any]] = []
        review_id = self.next_id(MaterialReview)
        rng = self.rng
        for batch in batches:
            previous: dict[str, Any] | None = None
            for row in batch:
                row["supersedes_id"] = None
                if rng.random() > 0.6:
                    row["author_id"] = rng.choice(others)
                # A quarter are a newer version of the material before them (same product).
                if (
                    previous is not None
                    and previous["product_id"] == row["product_id"]
                    and rng.random() < 0.5
                ):
                    row["family_id"] = previous["family_id"]
                    row["version"] = previous["version"] + 1
                    row["supersedes_id"] = previous["id"]
                    row["approval_code"] = previous["approval_code"]
                    row["author_id"] = previous["author_id"]
                    row["kind"] = previous["kind"]
                    if (
                        row["status"] is MaterialStatus.APPROVED
                        and previous["status"] is MaterialStatus.APPROVED
                    ):
                        previous["status"] = MaterialStatus.RETIRED
                        previous["retired_at"] = row["approved_at"]
                if row["status"] in (MaterialStatus.APPROVED, MaterialStatus.RETIRED):
                    row["approved_by_id"] = reviewer
                    if reviewer is not None:
                        reviews.append(
                            {
                                "id": review_id, "material_id": row["id"],
                                "reviewer_id": reviewer, "decision": ReviewDecision.APPROVED,
                                "comments": "", "at": row["approved_at"],
                            }
                        )  # fmt: skip
                        review_id += 1
                previous = row
            for row in batch:
                if (
                    row["status"] is MaterialStatus.APPROVED
                    and row["effective_at"] <= self.now < row["expires_at"]
                ):
                    self.live.append((row["id"], row["family_id"]))
            self._execute_many(_table(Material), batch)
            self.counts["materials"] = self.counts.get("materials", 0) + len(batch)
        self.insert(MaterialReview, reviews)
        if not self.live:
            raise InvalidInput("The factor is too small to publish any material.")

    def seed_events(self) -> None:
        """A year of views and downloads: the demo HCP's share first, the views of materials
        colleagues shared (:meth:`seed_account_team`) last, random ones between."""
        total = self.n("material_events")
        mine = min(total, self.n("hcp_events"))
        shared = getattr(self, "share_views", [])
        total = max(total, mine + len(shared))
        random_until = total - len(shared)
        hcp = self.demo["hcp"]
        rng = self.rng
        first = self.next_id(MaterialEvent)
        verified = self.verified or [hcp]

        def events() -> Iterator[dict[str, Any]]:
            for number in range(total):
                if number >= random_until:
                    user_id, material_id, family_id, at = shared[number - random_until]
                    yield {
                        "id": first + number, "material_id": material_id,
                        "family_id": family_id, "user_id": user_id, "kind": EventKind.VIEW,
                        "at": at,
                    }  # fmt: skip
                    continue
                material_id, family_id = rng.choice(self.live)
                yield {
                    "id": first + number,
                    "material_id": material_id,
                    "family_id": family_id,
                    "user_id": hcp if number < mine else rng.choice(verified),
                    "kind": EventKind.VIEW if rng.random() < 0.85 else EventKind.DOWNLOAD,
                    "at": self.past(),
                }

        self.insert(MaterialEvent, events())
        pairs: set[tuple[int, int]] = set()
        for family in rng.sample([f for _, f in self.live], min(len(self.live), 200)):
            if len(pairs) >= self.n("hcp_bookmarks"):
                break
            pairs.add((hcp, family))
        existing = {
            (row.user_id, row.family_id)
            for row in self.connection.execute(select(Bookmark.user_id, Bookmark.family_id))
        }
        for _ in range(self.n("bookmarks")):
            pairs.add((rng.choice(verified), rng.choice(self.live)[1]))
        self.insert(
            Bookmark,
            (
                {"user_id": u, "family_id": f, "created_at": self.past()}
                for u, f in sorted(pairs - existing)
            ),
        )

    # --- the account team ---------------------------------------------------------------------
    def seed_account_team(self) -> None:
        """A year of the account team's work with the HCPs of the territories the demo's reps and
        MSLs cover: about ``CONTACTS_PER_HCP`` contacts each on the ledger (call notes, material
        shares), made by the colleagues covering their territory (at most about
        ``STAFF_CAPACITY`` each, so a territory with few colleagues is contacted less), Medical
        Information's inbound calls, meeting requests both ways, plan notes, contact preferences
        with their history, and the demo HCP's heavy record. Written as the services would
        have: every contact row names its call note, share or meeting; asked-for ones (the HCP
        requested the call, a meeting was accepted) use no cap; a share the HCP opened is one of
        the year's views (:meth:`seed_events` writes it)."""
        rng = self.rng
        self.share_views: list[tuple[int, int, int, dt.datetime]] = []  # hcp, material, family, at
        self._load_field_staff()
        self._ids = {
            "contact": self.next_id(Contact),
            "note": self.next_id(CallNote),
            "share": self.next_id(MaterialShare),
            "meeting": self.next_id(Meeting),
            "change": self.next_id(PreferenceChange),
        }
        self._rows: dict[Any, list[dict[str, Any]]] = {
            Contact: [], CallNote: [], MaterialShare: [], Meeting: [],
        }  # fmt: skip
        self._touched: dict[int, int] = {}  # hcp -> contacts claimed (ContactPreferences.claims)
        self._last_staff: dict[int, list[tuple[int, dt.datetime]]] = {}  # hcp -> latest touches
        by_territory: dict[int, list[int]] = {}
        for row in self.connection.execute(
            select(HcpProfile.user_id, HcpProfile.territory_id).where(
                HcpProfile.user_id >= self.hcp_first,
                HcpProfile.verification == Verification.VERIFIED,
                HcpProfile.territory_id.in_(sorted(self.covered_territories)),
            )
        ):
            by_territory.setdefault(row.territory_id, []).append(row.user_id)
        inbound = [uid for uid in self.members[TeamKey.MEDICAL_INFORMATION] if uid in self.staff_of]
        # What each colleague would be asked to do, over every territory they cover; one with
        # more than STAFF_CAPACITY makes only that many (the rest of their HCPs' contacts drop).
        load: dict[int, float] = {}
        for territory_id, hcps in by_territory.items():
            pool = self.covering.get(territory_id, [])
            for staff in pool:
                load[staff] = load.get(staff, 0.0) + CONTACTS_PER_HCP * len(hcps) / len(pool)
        keep = {staff: min(1.0, STAFF_CAPACITY / wanted) for staff, wanted in load.items()}
        for territory_id, hcps in sorted(by_territory.items()):
            pool = self.covering.get(territory_id, [])
            if not pool:
                continue
            for hcp in hcps:
                for _ in range(rng.randint(CONTACTS_PER_HCP // 2, CONTACTS_PER_HCP * 3 // 2)):
                    staff = rng.choice(pool)
                    if rng.random() >= keep[staff]:
                        continue
                    at = self.past()
                    if rng.random() < 0.65 or not self._share(hcp, staff, at):
                        self._note(hcp, staff, at, asked=rng.random() < 0.3)
                if inbound and rng.random() < 0.3:
                    self._note(hcp, rng.choice(inbound), self.past(), asked=True)
                self._flush_account_rows()
        self._demo_hcp_record(inbound)
        self._meetings(by_territory)
        self._flush_account_rows(final=True)
        self._plan_notes()
        self._preferences()
        for key in ("contacts", "call_notes", "material_shares", "meetings", "plan_notes"):
            self.counts.setdefault(key, 0)

    def _load_field_staff(self) -> None:
        """Who covers which territory (reps, market access, MSLs: the demo's and the loaded
        ones), their side, team and products; the territories the demo logins cover."""
        self.staff_of: dict[int, tuple[Side, str]] = {}  # id -> (side, team key)
        team_of: dict[int, str] = {}
        for key, ids in self.members.items():
            for uid in ids:
                team_of.setdefault(uid, key.value)
        for row in self.connection.execute(select(User.id, User.role).where(User.role != Role.HCP)):
            role = Role(row.role)
            self.staff_of[row.id] = (side_of(role), team_of.get(row.id, role.value))
        self.covering: dict[int, list[int]] = {}
        self.covered_territories: set[int] = set()
        demo_ids = set(self.demo_email)
        for row in self.connection.execute(
            select(staff_territories.c.user_id, staff_territories.c.territory_id)
            .join(User, User.id == staff_territories.c.user_id)
            .where(User.role.in_([Role.REP, Role.MARKET_ACCESS, Role.MSL]))
            .order_by(staff_territories.c.territory_id, staff_territories.c.user_id)
        ):
            self.covering.setdefault(row.territory_id, []).append(row.user_id)
            if row.user_id in demo_ids:
                self.covered_territories.add(row.territory_id)
        self.staff_products: dict[int, list[int]] = {}
        for row in self.connection.execute(
            select(staff_products.c.user_id, staff_products.c.product_id).order_by(
                staff_products.c.user_id, staff_products.c.product_id
            )
        ):
            self.staff_products.setdefault(row.user_id, []).append(row.product_id)
        # What may be shared with any verified HCP: live, approved, no audience restriction.
        materials = _table(Material)
        self.shareable: list[tuple[int, int, int, bool]] = [
            (row.id, row.family_id or row.id, row.product_id,
             row.classification == Classification.PROMOTIONAL)
            for row in self.connection.execute(
                select(
                    materials.c.id, materials.c.family_id, materials.c.product_id,
                    materials.c.classification,
                ).where(
                    materials.c.status == MaterialStatus.APPROVED,
                    materials.c.effective_at <= self.now, materials.c.expires_at > self.now,
                    materials.c.audience_professions == "",
                    materials.c.audience_specialties == "",
                    materials.c.audience_countries == "",
                ).order_by(materials.c.id)
            )
        ]  # fmt: skip
        self._pools: dict[tuple[Side, tuple[int, ...]], list[tuple[int, int]]] = {}

    def _pool(self, staff: int) -> list[tuple[int, int]]:
        """(material, family) pairs ``staff`` may share: their products, promotional material
        only for the commercial side (as ``content.services.shareable_clause``)."""
        side = self.staff_of[staff][0]
        products = tuple(self.staff_products.get(staff, ()))
        key = (side, products)
        if key not in self._pools:
            self._pools[key] = [
                (material, family)
                for material, family, product, promotional in self.shareable
                if product in products and (promotional or side is not Side.COMMERCIAL)
            ]
        return self._pools[key]

    def _contact(
        self,
        hcp: int,
        staff: int,
        at: dt.datetime,
        *,
        channel: ContactChannel,
        kind: ContactKind,
        counted: bool,
        subject: str,
        subject_id: int,
    ) -> None:
        side, team = self.staff_of[staff]
        self._rows[Contact].append(
            {
                "id": self._ids["contact"], "hcp_id": hcp, "staff_id": staff, "side": side,
                "team": team, "channel": channel, "kind": kind, "counted": counted, "at": at,
                "subject": subject, "subject_id": subject_id,
            }
        )  # fmt: skip
        self._ids["contact"] += 1
        self._touched[hcp] = self._touched.get(hcp, 0) + 1
        latest = self._last_staff.setdefault(hcp, [])
        latest.append((staff, at))
        if len(latest) > 8 and hcp != self.demo["hcp"]:
            latest.sort(key=lambda item: item[1], reverse=True)
            del latest[4:]

    def _note(self, hcp: int, staff: int, at: dt.datetime, *, asked: bool) -> None:
        """A call note and its contact (``asked``: the HCP requested it, or Medical Information
        took their call: not counted)."""
        rng = self.rng
        side, team = self.staff_of[staff]
        inbound = team == TeamKey.MEDICAL_INFORMATION.value
        kind = (
            InteractionKind.PHONE if inbound else rng.choices(INTERACTIONS, INTERACTION_WEIGHTS)[0]
        )
        topics, summary = INBOUND_NOTE if inbound else rng.choice(CALL_NOTES[side])
        products = self.staff_products.get(staff) or [p.id for p in self.products]
        follow_up, due, done = "", None, None
        if not inbound and rng.random() < 0.3:
            follow_up = rng.choice(FOLLOW_UPS)
            due = (at + DAY * rng.randint(3, 14)).date()
            if due < (self.now - 2 * DAY).date() and rng.random() < 0.9:
                done = min(at + DAY * rng.randint(1, 14), self.now - dt.timedelta(minutes=1))
        note_id = self._ids["note"]
        self._ids["note"] += 1
        self._rows[CallNote].append(
            {
                "id": note_id, "hcp_id": hcp, "author_id": staff, "side": side, "kind": kind,
                "occurred_at": at, "requested_by_hcp": asked or inbound,
                "product_ids": sorted(rng.sample(products, min(len(products), rng.randint(1, 2)))),
                "topics": topics, "summary": summary, "follow_up": follow_up,
                "follow_up_due": due, "follow_up_done_at": done, "question_id": None,
                "created_at": min(at + dt.timedelta(hours=2), self.now),
            }
        )  # fmt: skip
        self._contact(
            hcp, staff, at, channel=kind.channel, kind=ContactKind.CALL,
            counted=not (asked or inbound), subject="call_note", subject_id=note_id,
        )  # fmt: skip

    def _share(self, hcp: int, staff: int, at: dt.datetime) -> bool:
        """A material share and its (counted) contact; False when ``staff`` has nothing to
        share. Two in five are opened within three days (a view of the year's); the colleague
        marked most of the older ones seen."""
        rng = self.rng
        pool = self._pool(staff)
        if not pool:
            return False
        material, family = rng.choice(pool)
        share_id = self._ids["share"]
        self._ids["share"] += 1
        opened = seen = None
        if rng.random() < 0.4:
            viewed = min(at + dt.timedelta(hours=rng.uniform(1, 72)), self.now - DAY / 1440)
            self.share_views.append((hcp, material, family, viewed))
            if viewed < self.now - 14 * DAY and rng.random() < 0.8:
                opened, seen = viewed, viewed + DAY
        self._rows[MaterialShare].append(
            {
                "id": share_id, "hcp_id": hcp, "staff_id": staff, "side": self.staff_of[staff][0],
                "material_id": material, "family_id": family, "note": rng.choice(SHARE_NOTES),
                "emailed": rng.random() < 0.5, "created_at": at, "opened_at": opened,
                "seen_by_staff_at": seen,
            }
        )  # fmt: skip
        self._contact(
            hcp, staff, at, channel=ContactChannel.PORTAL, kind=ContactKind.MATERIAL_SHARE,
            counted=True, subject="material_share", subject_id=share_id,
        )  # fmt: skip
        return True

    def _meeting(self, hcp: int, staff: int, created: dt.datetime, *, asked_by_hcp: bool) -> None:
        """A meeting request and its contacts: a colleague's proposal is counted when made; an
        accepted meeting is recorded as asked for when accepted."""
        rng = self.rng
        mode = rng.choices(list(MeetingMode), [40, 35, 25])[0]
        if created > self.now - 5 * DAY:
            state = MeetingState.REQUESTED if rng.random() < 0.7 else MeetingState.ACCEPTED
        else:
            roll = rng.random()
            state = (
                MeetingState.ACCEPTED
                if roll < 0.7
                else MeetingState.DECLINED
                if roll < 0.85
                else MeetingState.CANCELLED
            )
        first = max(created, self.now) if state is MeetingState.REQUESTED else created
        slots = [
            (first + DAY * (days + 1)).replace(hour=hour, minute=0, second=0, microsecond=0)
            for days, hour in sorted(
                (rng.randint(1, 9), rng.choice((14, 15, 16))) for _ in range(rng.randint(1, 3))
            )
        ]
        decided = None
        if state is not MeetingState.REQUESTED:
            decided = min(created + dt.timedelta(hours=rng.uniform(2, 30)), self.now - DAY / 1440)
        meeting_id = self._ids["meeting"]
        self._ids["meeting"] += 1
        self._rows[Meeting].append(
            {
                "id": meeting_id, "hcp_id": hcp, "staff_id": staff, "side": self.staff_of[staff][0],
                "requested_by_id": hcp if asked_by_hcp else staff, "mode": mode,
                "slots": [slot.isoformat() for slot in slots], "minutes": 30,
                "topic": rng.choice(MEETING_TOPICS), "state": state,
                "starts_at": slots[0] if state is MeetingState.ACCEPTED else None,
                "created_at": created, "decided_at": decided,
            }
        )  # fmt: skip
        if not asked_by_hcp:
            self._contact(
                hcp, staff, created, channel=mode.channel, kind=ContactKind.MEETING_PROPOSAL,
                counted=True, subject="meeting", subject_id=meeting_id,
            )  # fmt: skip
        if state is MeetingState.ACCEPTED and decided is not None:
            self._contact(
                hcp, staff, decided, channel=mode.channel, kind=ContactKind.MEETING,
                counted=False, subject="meeting", subject_id=meeting_id,
            )  # fmt: skip

    def _meetings(self, by_territory: dict[int, list[int]]) -> None:
        """``meetings`` requests between the covered HCPs and their colleagues, the demo rep's
        and MSL's share first (some still waiting for their answer: their worklists)."""
        rng = self.rng
        pairs: list[tuple[int, int, dt.datetime]] = []
        for who in ("rep", "msl"):
            staff = self.demo.get(who)
            hcps = [
                hcp
                for territory_id, members in sorted(by_territory.items())
                if staff in self.covering.get(territory_id, [])
                for hcp in members
            ]
            if staff is None or not hcps:
                continue
            for number in range(self.n("staff_meetings")):
                # One in ten asked in the last four days: most of those wait for an answer.
                at = self.now - 4 * DAY * rng.random() if number % 10 == 0 else self.past()
                pairs.append((rng.choice(hcps), staff, at))
        territories = [(t, h) for t, h in sorted(by_territory.items()) if self.covering.get(t)]
        for _ in range(self.n("meetings") if territories else 0):
            territory_id, hcps = rng.choice(territories)
            pairs.append((rng.choice(hcps), rng.choice(self.covering[territory_id]), self.past()))
        for hcp, staff, at in pairs:
            self._meeting(hcp, staff, at, asked_by_hcp=rng.random() < 0.5)
            self._flush_account_rows()

    def _demo_hcp_record(self, inbound: list[int]) -> None:
        """The demo HCP's year with the account team: hundreds of call notes, shares and
        meetings from both sides, preference changes. Within the demo's last 30 days only
        asked-for contacts are added, so the demo's tour keeps her cap as it set it (two
        counted contacts, the last six days ago)."""
        rng = self.rng
        hcp = self.demo["hcp"]
        territory_id = self.connection.execute(
            select(HcpProfile.territory_id).where(HcpProfile.user_id == hcp)
        ).scalar()
        pool = self.covering.get(territory_id, []) if territory_id is not None else []
        if not pool:
            return
        favourites = [self.demo[w] for w in ("rep", "msl") if self.demo.get(w) in pool]

        def colleague() -> int:
            return rng.choice(favourites) if favourites and rng.random() < 0.6 else rng.choice(pool)

        recent = self.now - 31 * DAY
        for _ in range(self.n("hcp_call_notes")):
            at = self.past()
            if inbound and rng.random() < 0.1:
                self._note(hcp, rng.choice(inbound), at, asked=True)
            else:
                self._note(hcp, colleague(), at, asked=at > recent or rng.random() < 0.4)
        for _ in range(self.n("hcp_shares")):
            # Counted: older than the last 30 days.
            at = recent - (YEAR - 31 * DAY) * rng.random() ** 1.5
            if not self._share(hcp, colleague(), at):
                break
        for _ in range(self.n("hcp_meetings")):
            at = self.past()
            self._meeting(hcp, colleague(), at, asked_by_hcp=at > recent or rng.random() < 0.5)
        self._flush_account_rows()
        # Her changes of mind before the demo's own save (160 days ago): that one stays current.
        oldest = self.now - YEAR
        moments = sorted(
            oldest + (200 * DAY) * rng.random() for _ in range(self.n("hcp_preference_changes"))
        )
        self.insert(
            PreferenceChange,
            [self._change(hcp, at, self._random_terms(hcp, at)) for at in moments],
        )
        claims = self._touched.pop(hcp, 0)
        preferences = _table(ContactPreferences)
        self.connection.execute(
            update(preferences)
            .where(preferences.c.hcp_id == hcp)
            .values(claims=preferences.c.claims + claims)
        )

    def _flush_account_rows(self, final: bool = False) -> None:
        for model, rows in self._rows.items():
            if rows and (final or len(rows) >= CHUNK):
                self.insert(model, rows)
                rows.clear()

    def _plan_notes(self) -> None:
        """Plan notes: a third of the colleagues who last touched a covered HCP plan the next
        interaction; every colleague who touched the demo HCP has one (beside the demo's)."""
        rng = self.rng
        existing = {
            (row.hcp_id, row.author_id)
            for row in self.connection.execute(select(PlanNote.hcp_id, PlanNote.author_id))
        }
        demo_hcp = self.demo["hcp"]
        rows: list[dict[str, Any]] = []
        for hcp, touches in self._last_staff.items():
            touches.sort(key=lambda item: item[1], reverse=True)
            authors: dict[int, dt.datetime] = {}
            for staff, at in touches if hcp == demo_hcp else touches[:2]:
                authors.setdefault(staff, at)
            for staff, at in authors.items():
                if (hcp, staff) in existing or (hcp != demo_hcp and rng.random() > 0.33):
                    continue
                if self.staff_of[staff][1] == TeamKey.MEDICAL_INFORMATION.value:
                    continue  # inbound calls: nothing to plan
                existing.add((hcp, staff))
                rows.append(
                    {
                        "hcp_id": hcp, "author_id": staff, "side": self.staff_of[staff][0],
                        "text": rng.choice(PLAN_TEXTS),
                        "updated_at": min(at + dt.timedelta(hours=3), self.now),
                    }
                )  # fmt: skip
        self.insert(PlanNote, rows)
        self._last_staff = {}

    def _random_terms(self, hcp: int, at: dt.datetime) -> dict[str, Any]:
        """Contact preferences an HCP might choose (the ``ContactPreferences`` columns)."""
        rng = self.rng
        channels = [
            c.value for c in ContactChannel if c is ContactChannel.PORTAL or rng.random() < 0.6
        ]
        quiet = rng.choice(QUIET_HOURS) if rng.random() < 0.3 else (None, None)
        paused = at + DAY * 7 * rng.randint(1, 8) if rng.random() < 0.05 else None
        return {
            "hcp_id": hcp, "channels": channels,
            "product_ids": sorted(rng.sample([p.id for p in self.products],
                                             rng.randint(0, min(2, len(self.products))))),
            "areas": sorted(rng.sample(sorted({p.therapeutic_area for p in self.products}),
                                       rng.randint(0, 1))),
            "quiet_start": quiet[0], "quiet_end": quiet[1],
            "cap": rng.choice((1, 2, 3, 4, 4, 4, 4, 6, 8)), "paused_until": paused,
        }  # fmt: skip

    def _change(self, hcp: int, at: dt.datetime, terms: dict[str, Any]) -> dict[str, Any]:
        """A PreferenceChange row holding ``terms`` (as ``preferences.state_of`` records it)."""
        change_id = self._ids["change"]
        self._ids["change"] += 1
        state = {
            key: terms[key]
            for key in ("channels", "product_ids", "areas", "quiet_start", "quiet_end", "cap")
        }
        paused = terms["paused_until"]
        state["paused_until"] = paused.isoformat() if paused is not None else None
        return {"id": change_id, "hcp_id": hcp, "actor_id": hcp, "at": at, "state": state}

    def _preferences(self) -> None:
        """Contact preferences: ``PREFERENCES_SHARE`` of the verified HCPs chose their terms (one
        to three saves each, the last one current); every other HCP contacted has the row the
        contact rule's lock creates (company defaults, its claims counted)."""
        rng = self.rng
        default_cap = int(current_app.config["CONTACT_DEFAULT_CAP"])
        scale_verified = [uid for uid in self.verified if uid >= self.hcp_first]
        chosen = set(rng.sample(scale_verified, round(len(scale_verified) * PREFERENCES_SHARE)))
        changes: list[dict[str, Any]] = []

        def rows() -> Iterator[dict[str, Any]]:
            for hcp in sorted(chosen | set(self._touched)):
                claims = self._touched.get(hcp, 0)
                if hcp not in chosen:
                    yield {
                        "hcp_id": hcp, "channels": [], "product_ids": [], "areas": [],
                        "quiet_start": None, "quiet_end": None, "cap": default_cap,
                        "paused_until": None, "chosen": False, "updated_at": self.now,
                        "claims": claims,
                    }  # fmt: skip
                    continue
                moments = sorted(self.past() for _ in range(rng.randint(1, 3)))
                for at in moments:
                    terms = self._random_terms(hcp, at)
                    changes.append(self._change(hcp, at, terms))
                yield {**terms, "chosen": True, "updated_at": moments[-1], "claims": claims}

        self.insert(ContactPreferences, rows())
        self.insert(PreferenceChange, changes)
        self.counts.setdefault("contact_preference_changes", 0)
        self._touched = {}

    # --- questions ----------------------------------------------------------------------------
    def owner_for(self, category: Category) -> TeamKey:
        if category is Category.ADVERSE_EVENT:
            return TeamKey.PHARMACOVIGILANCE
        if category is Category.QUALITY:
            return TeamKey.QUALITY
        if category.is_medical:
            return TeamKey.MEDICAL_INFORMATION if self.rng.random() < 0.6 else TeamKey.MSL
        if category is Category.ACCESS:
            return TeamKey.MARKET_ACCESS
        return TeamKey.SALES

    def assignee_for(self, team: TeamKey) -> int | None:
        # The demo staff of a team take a third of its work, so their "mine" views are heavy.
        demo_ids = self.demo_members.get(team) or []
        if demo_ids and self.rng.random() < 0.35:
            return self.rng.choice(demo_ids)
        members = self.members.get(team) or []
        return self.rng.choice(members) if members else None

    def seed_search_terms(self) -> None:
        """A year of the library's search log (the Content dashboard): each day some of the
        queries HCPs type, a few of them finding nothing."""
        rng = self.rng
        words = [
            "dosing",
            "renal",
            "pregnancy",
            "interaction",
            "elderly",
            "hepatic",
            "switch",
            "titration",
            "pediatric",
            "overdose",
            "storage",
            "biosimilar",
            "guideline",
        ]
        products = [product.name.lower() for product in self.products]
        gaps = ["gene therapy", "shortage", "compassionate use", "generic", "orphan"]
        days = 365
        per_day = max(1, self.n("search_terms") // days)
        zone_today = self.now.date()
        rows = []
        for back in range(days):
            day = zone_today - dt.timedelta(days=back)
            seen: set[str] = set()
            for _ in range(per_day):
                if rng.random() < 0.1:
                    query = rng.choice(gaps)
                else:
                    query = f"{rng.choice(products)} {rng.choice(words)}"
                if query in seen:
                    continue
                seen.add(query)
                searches = rng.randint(1, 12)
                missed = searches if query in gaps else 0
                rows.append({"day": day, "query": query, "searches": searches, "no_result": missed})
        self.insert(SearchTerm, rows)

    def business_minutes(
        self, team: TeamKey, start: dt.datetime, end: dt.datetime | None
    ) -> int | None:
        """Business minutes from ``start`` to ``end`` on ``team``'s calendar (as the questions
        services write them at the first reply and at closing)."""
        if end is None:
            return None
        calendars = self._calendars
        if team not in calendars:
            from portal.questions import facts

            calendars[team] = facts.calendar(team)
        return max(0, round(calendars[team].business_hours_between(start, end) * 60))

    def seed_questions(self, wording_id: int) -> None:
        rng = self.rng
        total = self.n("questions")
        by_hcp = [(self.demo["hcp"], self.n("hcp_questions"))]
        if "hcp2" in self.demo:
            by_hcp.append((self.demo["hcp2"], self.n("hcp2_questions")))
        demo_hcps: list[int] = []
        for hcp_id, count in by_hcp:
            demo_hcps += [hcp_id] * count
        categories = [c for c, _ in CATEGORY_WEIGHTS]
        weights = [w for _, w in CATEGORY_WEIGHTS]
        ids = {
            "question": self.next_id(Question),
            "entry": self.next_id(QuestionEntry),
            "event": self.next_id(QuestionEvent),
            "case": self.next_id(PvCase),
        }
        pv_demo = self.demo.get("pv")
        verified = self.verified or [self.demo["hcp"]]
        questions: list[dict[str, Any]] = []
        entries: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        cases: list[dict[str, Any]] = []
        attachments: list[dict[str, Any]] = []
        self.question_audit: list[tuple[dt.datetime, int, int]] = []  # (at, hcp, question)
        self.case_audit: list[tuple[dt.datetime, int]] = []

        def flush(final: bool = False) -> None:
            for model, rows in (
                (Question, questions),
                (QuestionEntry, entries),
                (QuestionAttachment, attachments),
                (QuestionEvent, events),
                (PvCase, cases),
            ):
                if rows and (final or len(rows) >= CHUNK):
                    self.insert(model, rows)
                    rows.clear()

        for number in range(total):
            question_id = ids["question"]
            ids["question"] += 1
            hcp = demo_hcps[number] if number < len(demo_hcps) else rng.choice(verified)
            category = rng.choices(categories, weights)[0]
            product = rng.choice(self.products)
            team = self.owner_for(category)
            created = self.past()
            age = self.now - created
            urgent = rng.random() < 0.08
            due = created + (DAY if urgent else 2 * DAY)
            roll = rng.random()
            if age > 30 * DAY:
                status = (
                    QuestionStatus.CLOSED
                    if roll < 0.6
                    else QuestionStatus.ANSWERED
                    if roll < 0.97
                    else QuestionStatus.IN_PROGRESS
                )
            else:
                status = (
                    QuestionStatus.RECEIVED
                    if roll < 0.4
                    else QuestionStatus.IN_PROGRESS
                    if roll < 0.7
                    else QuestionStatus.ANSWERED
                    if roll < 0.9
                    else QuestionStatus.CLOSED
                )
            assignee = None if status is QuestionStatus.RECEIVED else self.assignee_for(team)
            answered = status in (QuestionStatus.ANSWERED, QuestionStatus.CLOSED)
            answered_at = created + dt.timedelta(hours=rng.uniform(1, 40)) if answered else None
            if answered_at is not None and answered_at > self.now:
                answered_at = self.now - dt.timedelta(minutes=1)
            closed_at = (
                answered_at + DAY
                if status is QuestionStatus.CLOSED and answered_at is not None
                else None
            )
            if closed_at is not None and closed_at > self.now:
                closed_at = self.now
            text_value = rng.choice(QUESTION_TEXTS).format(p=product.name)
            ae = category is Category.ADVERSE_EVENT
            questions.append(
                {
                    "id": question_id, "hcp_id": hcp, "product_id": product.id,
                    "about_family_id": None, "category": category, "text": text_value,
                    "channel": Channel.PORTAL if rng.random() < 0.8 else Channel.EMAIL,
                    "urgency": Urgency.URGENT if urgent else Urgency.ROUTINE,
                    "consent_wording_id": wording_id, "status": status, "owner_team": team,
                    "assignee_id": assignee, "due_at": due,
                    "routing": {
                        "teams": [team.value], "ae": ae, "ae_reasons": [],
                        "off_label": category is Category.OFF_LABEL, "patient_affected": ae,
                        "reasons": [f"routed to {team.value} for {category.value} questions"],
                        "rule_id": None,
                    },
                    "ae_flag": ae, "off_label_flag": category is Category.OFF_LABEL,
                    "escalated_at": None, "overdue_notified_at": None,
                    "helpful": (rng.random() < 0.8) if closed_at and rng.random() < 0.3 else None,
                    "created_at": created, "updated_at": closed_at or answered_at or created,
                    "answered_at": answered_at, "closed_at": closed_at,
                    "first_response_at": answered_at,
                    "first_response_business_minutes": self.business_minutes(
                        team, created, answered_at
                    ),
                    "close_business_minutes": self.business_minutes(team, created, closed_at),
                }
            )  # fmt: skip
            self.question_audit.append((created, hcp, question_id))

            def event(
                kind: QuestionEventKind,
                at: dt.datetime,
                actor: int | None,
                question_id: int = question_id,
                team: TeamKey = team,
            ) -> None:
                events.append(
                    {
                        "id": ids["event"], "question_id": question_id, "kind": kind, "at": at,
                        "actor_id": actor, "team": team, "detail": "",
                    }
                )  # fmt: skip
                ids["event"] += 1

            event(QuestionEventKind.RECEIVED, created, hcp)
            event(QuestionEventKind.ROUTED, created, None)
            if assignee is not None:
                event(QuestionEventKind.CLAIMED, created + dt.timedelta(minutes=30), assignee)
            if answered_at is not None and assignee is not None:
                side = QUEUE_TEAMS.get(team, Side.MEDICAL)
                if rng.random() < 0.15:
                    entries.append(
                        {
                            "id": ids["entry"], "question_id": question_id,
                            "author_id": assignee, "kind": EntryKind.NOTE, "side": side,
                            "body": "Checked the label and the latest safety update.",
                            "created_at": answered_at - dt.timedelta(minutes=20),
                        }
                    )  # fmt: skip
                    ids["entry"] += 1
                entries.append(
                    {
                        "id": ids["entry"], "question_id": question_id, "author_id": assignee,
                        "kind": EntryKind.REPLY, "side": side, "body": rng.choice(REPLIES),
                        "created_at": answered_at,
                    }
                )  # fmt: skip
                if rng.random() < 0.1:
                    attachments.append(
                        {"entry_id": ids["entry"], "material_id": rng.choice(self.live)[0]}
                    )
                ids["entry"] += 1
                event(QuestionEventKind.ANSWERED, answered_at, assignee)
                if rng.random() < 0.2:
                    entries.append(
                        {
                            "id": ids["entry"], "question_id": question_id, "author_id": hcp,
                            "kind": EntryKind.FOLLOW_UP, "side": Side.OUTSIDE,
                            "body": "Thank you, that answers my question.",
                            "created_at": answered_at + dt.timedelta(hours=2),
                        }
                    )  # fmt: skip
                    ids["entry"] += 1
            if closed_at is not None:
                event(QuestionEventKind.CLOSED, closed_at, assignee)
            if ae:
                open_case = age < 2 * DAY or rng.random() < 0.05
                case_status = (
                    PvCaseStatus.OPEN
                    if open_case
                    else PvCaseStatus.ACKNOWLEDGED
                    if rng.random() < 0.4
                    else PvCaseStatus.CLOSED
                )
                acknowledged = case_status is not PvCaseStatus.OPEN
                acknowledged_at = created + dt.timedelta(hours=4) if acknowledged else None
                cases.append(
                    {
                        "id": ids["case"], "question_id": question_id, "entry_id": None,
                        "source": "question", "source_ref": f"Q-{question_id:06d}",
                        "source_text": text_value, "reasons": ["a side effect was described"],
                        "reporter_id": hcp, "product_id": product.id, "status": case_status,
                        "due_at": created + DAY, "created_at": created,
                        "acknowledged_at": acknowledged_at,
                        "acknowledged_by_id": pv_demo if acknowledged else None,
                        "closed_at": created + 10 * DAY
                        if case_status is PvCaseStatus.CLOSED
                        else None,
                        "overdue_notified_at": None,
                        "patient": "Adult patient" if acknowledged else "",
                        "reporter": "Treating physician", "suspect_product": product.name,
                        "event": "Rash and dizziness", "serious": False, "seriousness": [],
                        "patient_initials": "", "patient_age": "", "patient_sex": "",
                        "origin": CaseOrigin.DETECTED, "reported_by_id": None,
                        "product_complaint": False, "conversation_id": None, "message_id": None,
                    }
                )  # fmt: skip
                self.case_audit.append((created, ids["case"]))
                ids["case"] += 1
            if len(questions) >= CHUNK:
                flush()
        flush(final=True)
        for key in ("questions", "pv_cases"):
            self.counts.setdefault(key, 0)

    # --- chat ---------------------------------------------------------------------------------
    def seed_chats(self, wording_id: int) -> None:
        rng = self.rng
        hcp = self.demo["hcp"]
        appended = self.append_demo_chats()
        scale_staff = set(self.staff_ids)
        staff_pool = [
            uid
            for team in (TeamKey.SALES, TeamKey.MSL)
            for uid in self.members[team]
            if uid in scale_staff
        ]
        count = self.n("conversations")
        per_demo = min(count // 2, self.n("staff_conversations"))
        verified = self.verified or [hcp]
        pairs: list[tuple[int, int]] = []
        seen = {
            (row.hcp_id, row.staff_id)
            for row in self.connection.execute(select(Conversation.hcp_id, Conversation.staff_id))
        }
        for number in range(count):
            if number < 2 * per_demo and "rep" in self.demo and "msl" in self.demo:
                staff = self.demo["rep"] if number % 2 else self.demo["msl"]
            else:
                staff = rng.choice(staff_pool) if staff_pool else self.demo["msl"]
            for _ in range(20):
                pair = (rng.choice(verified), staff)
                if pair not in seen:
                    seen.add(pair)
                    pairs.append(pair)
                    break
        remaining = max(len(pairs), self.n("messages") - appended)
        average = remaining // max(1, len(pairs))
        sizes = [max(1, average + rng.randint(-average // 2, average // 2)) for _ in pairs]
        if sizes:
            sizes[-1] = max(1, sizes[-1] + remaining - sum(sizes))
        first_conversation = self.next_id(Conversation)
        first_consent = self.next_id(ConsentPeriod)
        message_id = self.next_id(Message)
        conversations: list[dict[str, Any]] = []
        consents: list[dict[str, Any]] = []
        reads: list[dict[str, Any]] = []
        self.chat_audit: list[tuple[dt.datetime, int, int, int]] = []
        for number, ((hcp_id, staff_id), size) in enumerate(zip(pairs, sizes, strict=True)):
            conversation_id = first_conversation + number
            created = self.past()
            ended = rng.random() < 0.2
            last_at = created + (self.now - created) * rng.uniform(0.5, 1.0)
            conversations.append(
                {
                    "id": conversation_id, "hcp_id": hcp_id, "staff_id": staff_id,
                    "state": ConversationState.ENDED if ended else ConversationState.ACTIVE,
                    "last_seq": size, "last_message_at": last_at, "created_at": created,
                    "ended_at": last_at if ended else None,
                    "attested_seq": size if ended else 0, "attested_at": last_at if ended else None,
                }
            )  # fmt: skip
            consents.append(
                {
                    "id": first_consent + number, "conversation_id": conversation_id,
                    "hcp_id": hcp_id, "staff_id": staff_id, "wording_id": wording_id,
                    "granted_at": created, "granted_via": "hcp_started",
                    "withdrawn_at": last_at if ended else None,
                    "withdrawn_via": "conversation" if ended else None,
                }
            )  # fmt: skip
            reads.append(
                {
                    "conversation_id": conversation_id, "user_id": staff_id,
                    "delivered_seq": size, "read_seq": size, "emailed_at": None,
                }
            )  # fmt: skip
            unread = 0 if ended else rng.choice((0, 0, 0, 1, 2, 5))
            reads.append(
                {
                    "conversation_id": conversation_id, "user_id": hcp_id,
                    "delivered_seq": size, "read_seq": max(0, size - unread), "emailed_at": None,
                }
            )  # fmt: skip
            self.chat_audit.append((created, hcp_id, staff_id, conversation_id))
        self.insert(Conversation, conversations)
        self.insert(ConsentPeriod, consents)
        self.insert(ReadState, reads)

        def messages() -> Iterator[dict[str, Any]]:
            nonlocal message_id
            for conversation, size in zip(conversations, sizes, strict=True):
                yield from self._messages(
                    conversation["id"], conversation["hcp_id"], conversation["staff_id"],
                    first_seq=1, count=size, start=conversation["created_at"],
                    end=conversation["last_message_at"], first_id=message_id,
                )  # fmt: skip
                message_id += size

        self.insert(Message, messages())

    def _messages(
        self,
        conversation_id: int,
        hcp_id: int,
        staff_id: int,
        *,
        first_seq: int,
        count: int,
        start: dt.datetime,
        end: dt.datetime,
        first_id: int,
    ) -> Iterator[dict[str, Any]]:
        rng = self.rng
        step = (end - start) / (count + 1)
        for offset in range(count):
            seq = first_seq + offset
            speaker, line = CHAT_LINES[(seq + rng.randrange(2)) % len(CHAT_LINES)]
            sender = hcp_id if speaker == "hcp" else staff_id
            yield {
                "id": first_id + offset, "conversation_id": conversation_id, "seq": seq,
                "client_id": f"scale-{conversation_id}-{seq}", "sender_id": sender,
                "kind": MessageKind.TEXT, "body": line, "material_id": None,
                "sent_at": start + step * (offset + 1), "edited_at": None, "deleted_at": None,
                "flags": [],
            }  # fmt: skip

    def append_demo_chats(self) -> int:
        """The demo HCP's chats get thousands of messages more, after the ones they have, dated
        between the demo's messages and now (numbers and times both keep increasing)."""
        hcp = self.demo["hcp"]
        count = self.n("hcp_messages")
        first_id = self.next_id(Message)
        written = 0
        chats = self.connection.execute(
            select(
                Conversation.id, Conversation.staff_id, Conversation.last_seq,
                Conversation.last_message_at, Conversation.created_at,
            ).where(Conversation.hcp_id == hcp)
        ).all()  # fmt: skip
        for chat in chats:
            start = chat.last_message_at or chat.created_at
            end = self.now - dt.timedelta(seconds=1)
            end = max(end, start)
            rows = list(
                self._messages(
                    chat.id, hcp, chat.staff_id, first_seq=chat.last_seq + 1, count=count,
                    start=start, end=end, first_id=first_id + written,
                )
            )  # fmt: skip
            self.insert(Message, rows)
            written += len(rows)
            last_seq = chat.last_seq + count
            self.connection.execute(
                update(_table(Conversation))
                .where(_table(Conversation).c.id == chat.id)
                .values(last_seq=last_seq, last_message_at=rows[-1]["sent_at"])
            )
            reads = _table(ReadState)
            self.connection.execute(
                update(reads)
                .where(reads.c.conversation_id == chat.id, reads.c.user_id == chat.staff_id)
                .values(delivered_seq=last_seq, read_seq=last_seq)
            )
            self.connection.execute(
                update(reads)
                .where(reads.c.conversation_id == chat.id, reads.c.user_id == hcp)
                .values(delivered_seq=last_seq, read_seq=last_seq - 3)
            )
        return written

    # --- notifications and audit --------------------------------------------------------------
    def seed_notifications(self) -> None:
        rng = self.rng
        total = self.n("notifications")
        first = self.next_id(Notification)
        targets: list[tuple[int, int]] = [(self.demo["hcp"], self.n("hcp_notifications"))]
        for who in ("rep", "msl", "mi", "pv"):
            if who in self.demo:
                targets.append((self.demo[who], self.n("staff_notifications")))
        owners: list[int] = []
        for user_id, count in targets:
            owners += [user_id] * count
        staff = set(self.staff_ids) | {
            self.demo[w] for w in ("rep", "msl", "mi", "pv") if w in self.demo
        }
        everyone = self.verified + self.staff_ids
        question_count = self.counts.get("questions", 1)
        first_question = self.next_id(Question) - question_count

        def rows() -> Iterator[dict[str, Any]]:
            for number in range(max(total, len(owners))):
                user_id = owners[number] if number < len(owners) else rng.choice(everyone)
                question_id = first_question + rng.randrange(question_count)
                if user_id in staff:
                    kind, title = "question_new", f"New question Q-{question_id:06d} in your queue"
                else:
                    kind, title = (
                        "question_answered",
                        f"Your question Q-{question_id:06d} was answered",
                    )
                created = self.past()
                yield {
                    "id": first + number, "user_id": user_id, "kind": kind, "title": title,
                    "url": f"/questions/{question_id}", "created_at": created,
                    "read_at": created + dt.timedelta(hours=3) if rng.random() < 0.8 else None,
                }  # fmt: skip

        self.insert(Notification, rows())

    def seed_audit(self) -> None:
        """The history of what was loaded, in the order it happened, through the chain's own
        bulk writer: one turn on the head per chunk, hashes as :func:`audit.record` makes them."""
        rng = self.rng
        labels = dict(self.demo_email)
        # Scale accounts' e-mails follow from their number: no need to keep them all in memory.
        staff_first = self.staff_ids[0]
        hcp_first = self.hcp_first

        def label(user_id: int | None) -> str:
            if user_id is None:
                return "system"
            if user_id in labels:
                return labels[user_id]
            if user_id >= hcp_first:
                return f"hcp{user_id - hcp_first:06d}@{SCALE_DOMAIN}"
            return f"staff{user_id - staff_first:05d}@{SCALE_DOMAIN}"

        # (at, action, actor, target type, target id, detail) kept small: sorted, then hashed.
        items: list[tuple[dt.datetime, str, int | None, str, int, int]] = []
        users = self.connection.execute(
            select(User.id, User.created_at).where(User.id >= staff_first)
        ).all()
        items += [(row.created_at, "user.created", None, "users", row.id, 0) for row in users]
        materials = _table(Material)
        for row in self.connection.execute(
            select(materials.c.id, materials.c.created_at, materials.c.author_id).where(
                materials.c.id >= self.first_material
            )
        ):
            items.append(
                (row.created_at, "material.created", row.author_id, "materials", row.id, 0)
            )
        items += [
            (at, "question.submit", hcp, "questions", qid, 0)
            for at, hcp, qid in self.question_audit
        ]
        items += [(at, "pv_case.open", None, "pv_cases", cid, 0) for at, cid in self.case_audit]
        items += [
            (at, "chat.consent_given", hcp, "conversations", cid, staff)
            for at, hcp, staff, cid in self.chat_audit
        ]
        people = self.verified + self.staff_ids
        for _ in range(self.n("logins")):
            user_id = rng.choice(people)
            items.append((self.past(), "session.started", user_id, "users", user_id, 0))
        items.sort(key=lambda item: item[0])
        self.question_audit, self.case_audit, self.chat_audit = [], [], []
        for start in range(0, len(items), CHUNK):
            entries = []
            for at, action, actor, target_type, target_id, extra in items[start : start + CHUNK]:
                details: dict[str, Any]
                if action == "user.created":
                    details = {"source": "scale"}
                elif action == "chat.consent_given":
                    details = {"staff": extra, "via": "hcp_started"}
                else:
                    details = {}
                entries.append(
                    audit.Entry(
                        actor_id=actor, actor_label=label(actor), action=action,
                        target_type=target_type, target_id=str(target_id), details=details, at=at,
                    )
                )  # fmt: skip
            audit.record_many(entries)
        self.counts["audit_records"] = len(items)

    # --- derived state ------------------------------------------------------------------------
    def index_materials(self) -> None:
        """Add the new approved versions to the library's full-text index, as
        ``content.search`` indexes one (SQLite FTS5 / PostgreSQL weighted tsvector)."""
        params = {"first": self.first_material}
        if self.dialect == "sqlite":
            self.connection.execute(
                text(
                    "INSERT INTO material_search(rowid, title, summary, body) "
                    "SELECT id, title, summary, body_text FROM materials "
                    "WHERE status = 'approved' AND id >= :first"
                ),
                params,
            )
            self.connection.exec_driver_sql(
                "INSERT INTO material_search(material_search) VALUES('optimize')"
            )
        else:
            # PostgresIndex.add folds case and accents in Python first: the generated library is
            # plain ASCII, and to_tsvector folds case itself.
            self.connection.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
            self.connection.execute(
                text(
                    "INSERT INTO material_search (material_id, document) SELECT id, "
                    "setweight(to_tsvector('english', title), 'A') || "
                    "setweight(to_tsvector('english', summary), 'B') || "
                    "setweight(to_tsvector('english', body_text), 'D') || "
                    "setweight(to_tsvector('simple', title), 'A') || "
                    "setweight(to_tsvector('simple', summary), 'B') "
                    "FROM materials WHERE status = 'approved' AND id >= :first"
                ),
                params,
            )
        self.counts["material_search"] = int(
            self.connection.execute(
                select(func.count())
                .select_from(_table(Material))
                .where(
                    _table(Material).c.status == MaterialStatus.APPROVED.value,
                    _table(Material).c.id >= self.first_material,
                )
            ).scalar_one()
        )

    def fix_sequences(self) -> None:
        """Ids were given explicitly: move each table's id sequence past them."""
        for model in (
            User, Material, MaterialReview, MaterialEvent, Question, QuestionEntry,
            QuestionEvent, PvCase, Conversation, ConsentPeriod, Message, Notification,
            Contact, CallNote, MaterialShare, Meeting, PreferenceChange,
        ):  # fmt: skip
            name = _table(model).name
            self.connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM {name}))"
                )
            )
