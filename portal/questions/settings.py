"""Administration of question routing: rules, SLAs, holidays and products' label facts.

These are the data a compliance officer changes without a release (STYLE.md, "Configuration").
Administrators change them (:func:`portal.policy.can_manage_routing`); compliance auditors read
them (:func:`portal.policy.can_view_routing`); anyone else finds nothing (:class:`NotFound`).

Each public function that changes something is one unit of work
(:func:`portal.unit_of_work.transactional`): it validates, reporting every bad field at once
(``InvalidInput(errors={field: message})``), and writes the change and its audit record in the
same transaction. The hard compliance limits live in the routing engine, after the
rules, so nothing here can break them; :func:`rule_warnings` says when a rule is overridden by one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select

from portal import audit, policy
from portal.errors import InvalidInput, NotFound
from portal.extensions import db
from portal.models import Product, Team, TeamKey, Territory, User, utcnow
from portal.models.reference import COUNTRIES
from portal.questions import facts, routing
from portal.questions.calendar import (
    BusinessCalendar,
    Sla,
    SlaUnit,
    parse_named_holidays,
    public_calendar,
    public_holiday_names,
)
from portal.questions.models import (
    COMMERCIAL_TEAMS,
    QUEUE_TEAMS,
    Category,
    Holiday,
    ProductLabel,
    RoutingRule,
    SlaPolicy,
    Urgency,
    team_label,
)
from portal.questions.routing import DEFAULT_SLAS, DEFAULT_TEAMS, URGENT, Decision
from portal.safety import detection
from portal.safety import services as safety
from portal.unit_of_work import transactional

MAX_NAME = 120
MAX_KEYWORD = 100
MAX_KEYWORDS = 50
MAX_SLA = 999
MAX_AGE = 120
MAX_POPULATIONS = 2000
MAX_HOLIDAYS = 1000
MAX_HOLIDAY_NAME = 120  # Holiday.name
MAX_PREVIEW_TEXT = 10_000

NO_CONDITIONS = "A rule with no conditions would catch every question; add a condition."

# Categories whose owner no rule decides, and who decides instead (routing.classify's hard limits).
_FORCED_OWNER: dict[Category, TeamKey] = {
    Category.ADVERSE_EVENT: TeamKey.PHARMACOVIGILANCE,
    Category.QUALITY: TeamKey.QUALITY,
}


def _require_view(actor: User) -> None:
    policy.require_visible(policy.can_view_routing(actor), "That page")


def _require_manage(actor: User) -> None:
    _require_view(actor)
    policy.require(
        policy.can_manage_routing(actor), "Only administrators change the routing set-up."
    )


# --- rules ---------------------------------------------------------------------------------------
@dataclasses.dataclass
class RuleInput:
    """What an administrator writes for a rule. Empty condition lists match anything.

    ``keywords`` is text with one keyword or phrase per line (or already a list of them);
    ``products`` and ``territories`` are codes, ``countries`` ISO codes.
    """

    name: str
    team: str
    categories: Sequence[str] = ()
    products: Sequence[str] = ()
    keywords: str | Sequence[str] = ""
    countries: Sequence[str] = ()
    territories: Sequence[str] = ()


@dataclasses.dataclass(frozen=True)
class _CleanRule:
    name: str
    team: TeamKey
    categories: list[str]
    products: list[str]
    keywords: list[str]
    countries: list[str]
    territories: list[str]


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def _keyword_lines(keywords: str | Sequence[str]) -> list[str]:
    lines = keywords.splitlines() if isinstance(keywords, str) else list(keywords)
    return [line.strip() for line in lines]


def _keyword_problem(lines: list[str]) -> str | None:
    kept = [k for k in lines if k]
    for number, keyword in enumerate(lines, start=1):
        if len(keyword) > MAX_KEYWORD:
            return (
                f"Keep each keyword to {MAX_KEYWORD} characters (line {number} has {len(keyword)})."
            )
        if keyword and not re.search(r"[^\W_]", keyword):
            return f"Line {number} ({keyword!r}) has no word to look for."
    if len(kept) > MAX_KEYWORDS:
        return f"Use at most {MAX_KEYWORDS} keywords (there are {len(kept)})."
    return None


def _unknown(values: Iterable[str], known: Iterable[str]) -> list[str]:
    allowed = set(known)
    return [v for v in values if v not in allowed]


def _clean_rule(data: RuleInput) -> _CleanRule:
    problems: dict[str, str] = {}
    name = (data.name or "").strip()
    if not name:
        problems["name"] = "Give the rule a name."
    elif len(name) > MAX_NAME:
        problems["name"] = f"Keep the name to {MAX_NAME} characters (it has {len(name)})."
    team = data.team if data.team in {t.value for t in QUEUE_TEAMS} else None
    if team is None:
        problems["team"] = "Choose one of the answering teams."

    categories = _distinct(data.categories)
    if unknown := _unknown(categories, (c.value for c in Category)):
        problems["categories"] = f"Unknown category: {', '.join(unknown)}."
    products = _distinct(data.products)
    if products:
        found = db.session.scalars(select(Product.code).where(Product.code.in_(products)))
        if unknown := _unknown(products, found):
            problems["products"] = f"Unknown product: {', '.join(unknown)}."
    countries = _distinct(c.upper() for c in data.countries)
    if unknown := _unknown(countries, COUNTRIES):
        problems["countries"] = f"Unknown country code: {', '.join(unknown)}."
    territories = _distinct(data.territories)
    if territories:
        found = db.session.scalars(select(Territory.code).where(Territory.code.in_(territories)))
        if unknown := _unknown(territories, found):
            problems["territories"] = f"Unknown territory: {', '.join(unknown)}."
    lines = _keyword_lines(data.keywords)
    if (problem := _keyword_problem(lines)) is not None:
        problems["keywords"] = problem
    # Case-insensitive duplicates are the same keyword to the matcher: keep the first.
    seen: set[str] = set()
    keywords = []
    for keyword in lines:
        if keyword and keyword.casefold() not in seen:
            seen.add(keyword.casefold())
            keywords.append(keyword)

    if not (categories or products or countries or territories or keywords) and not problems:
        problems["conditions"] = NO_CONDITIONS
    if problems:
        raise InvalidInput(next(iter(problems.values())), errors=problems)
    assert team is not None
    order = [c.value for c in Category]
    return _CleanRule(
        name=name,
        team=TeamKey(team),
        categories=sorted(categories, key=order.index),
        products=products,
        keywords=keywords,
        countries=countries,
        territories=territories,
    )


def _snapshot(rule: RoutingRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "position": rule.position,
        "team": rule.team.value,
        "categories": list(rule.categories),
        "products": list(rule.products),
        "keywords": list(rule.keywords),
        "countries": list(rule.countries),
        "territories": list(rule.territories),
        "active": rule.active,
    }


def _ordered_rules(*, lock: bool = False) -> list[RoutingRule]:
    query = select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)
    if lock:
        # Two administrators reordering at once take turns (PostgreSQL; SQLite locks the file).
        query = query.with_for_update()
    return list(db.session.scalars(query))


def _renumber(rules: Sequence[RoutingRule]) -> None:
    """Positions 1..n in the given order, without gaps."""
    for number, rule in enumerate(rules, start=1):
        if rule.position != number:
            rule.position = number


def list_rules(actor: User) -> list[RoutingRule]:
    """Every rule, active or not, in the order the engine tries them.

    Administrators and compliance auditors; :class:`NotFound` for anyone else.
    """
    _require_view(actor)
    return _ordered_rules()


def get_rule(actor: User, rule_id: int) -> RoutingRule:
    """The rule ``rule_id``; :class:`NotFound` if it does not exist or ``actor`` may not see it."""
    _require_view(actor)
    rule = db.session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound("That routing rule was not found.")
    return rule


@transactional
def create_rule(actor: User, data: RuleInput) -> RoutingRule:
    """Add an active rule after the existing ones (so it is tried last).

    Administrators only. Raises :class:`InvalidInput` naming every bad field (``conditions`` when
    the rule has none), :class:`PermissionDenied` or :class:`NotFound`. Audits
    ``routing_rule.created``.
    """
    _require_manage(actor)
    clean = _clean_rule(data)
    # Two administrators adding at once may share a position; the id breaks the tie and the next
    # move or deletion renumbers.
    last = db.session.scalar(select(func.max(RoutingRule.position))) or 0
    rule = RoutingRule(
        position=last + 1, active=True, **dataclasses.asdict(clean), updated_at=utcnow()
    )
    db.session.add(rule)
    db.session.flush()
    audit.record(actor, "routing_rule.created", rule, **_snapshot(rule))
    return rule


@transactional
def update_rule(actor: User, rule_id: int, data: RuleInput) -> RoutingRule:
    """Change a rule's name, conditions and team (its position and state stay).

    Administrators only. Raises :class:`InvalidInput` (every bad field), :class:`NotFound` or
    :class:`PermissionDenied`. Audits ``routing_rule.updated`` with the before and after, when
    anything changed.
    """
    _require_manage(actor)
    rule = get_rule(actor, rule_id)
    clean = _clean_rule(data)
    before = _snapshot(rule)
    for key, value in dataclasses.asdict(clean).items():
        setattr(rule, key, value)
    after = _snapshot(rule)
    if before != after:
        rule.updated_at = utcnow()
        audit.record(actor, "routing_rule.updated", rule, before=before, after=after)
    return rule


@transactional
def move_rule(actor: User, rule_id: int, *, direction: str) -> RoutingRule:
    """Swap a rule with its neighbour above (``"up"``, tried earlier) or below (``"down"``).

    Positions stay 1..n without gaps. Moving the first rule up or the last one down changes
    nothing. Administrators only; raises :class:`InvalidInput` for another direction,
    :class:`NotFound`, :class:`PermissionDenied`. Audits ``routing_rule.moved`` with the old and
    new position.
    """
    _require_manage(actor)
    if direction not in ("up", "down"):
        raise InvalidInput("Move a rule up or down.", field="direction")
    rule = get_rule(actor, rule_id)
    rules = _ordered_rules(lock=True)
    index = rules.index(rule)
    _renumber(rules)
    before = rule.position
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(rules):
        rules[index], rules[other] = rules[other], rules[index]
        _renumber(rules)
        audit.record(
            actor, "routing_rule.moved", rule, name=rule.name, before=before, after=rule.position
        )
    return rule


@transactional
def set_rule_active(actor: User, rule_id: int, active: bool) -> RoutingRule:
    """Enable or disable a rule; a disabled rule keeps its place but the engine skips it.

    Administrators only; raises :class:`NotFound` or :class:`PermissionDenied`. Audits
    ``routing_rule.enabled`` or ``routing_rule.disabled`` when the state changes.
    """
    _require_manage(actor)
    rule = get_rule(actor, rule_id)
    if rule.active is not bool(active):
        rule.active = bool(active)
        rule.updated_at = utcnow()
        action = "routing_rule.enabled" if rule.active else "routing_rule.disabled"
        audit.record(actor, action, rule, name=rule.name)
    return rule


@transactional
def delete_rule(actor: User, rule_id: int) -> None:
    """Delete a rule; the rules after it move up. Questions already routed keep their reasons.

    Administrators only; raises :class:`NotFound` or :class:`PermissionDenied`. Audits
    ``routing_rule.deleted`` with everything the rule was, so the trail can say what it did.
    """
    _require_manage(actor)
    rule = get_rule(actor, rule_id)
    audit.record(actor, "routing_rule.deleted", rule, **_snapshot(rule))
    db.session.delete(rule)
    db.session.flush()
    _renumber(_ordered_rules(lock=True))


def rule_warnings(rule: RoutingRule) -> list[str]:
    """Why a rule cannot do what it says for some questions: the hard limits decide instead.

    Pure (no actor, no database): the rules page shows these next to the rule. A rule with no
    category condition is checked only for medical questions going to a commercial team, the
    common slip; the adverse event and quality limits are shown only for rules naming those
    categories.
    """
    team = TeamKey(rule.team)
    named = [Category(c) for c in rule.categories if c in {x.value for x in Category}]
    categories = named or list(Category)
    warnings: list[str] = []
    lost: set[Category] = set()
    for category, owner in _FORCED_OWNER.items():
        if named and category in categories and team is not owner:
            lost.add(category)
            what = (
                "adverse event reports"
                if category is Category.ADVERSE_EVENT
                else "product quality complaints"
            )
            warnings.append(
                f"This rule cannot send {what} to {team_label(team)}: the hard limits send them "
                f"to {team_label(owner)}."
            )
    if team in COMMERCIAL_TEAMS:
        medical = [c for c in categories if c.is_medical and c not in _FORCED_OWNER]
        if medical:
            lost.update(medical)
            listed = ", ".join(f"'{c.label}'" for c in medical)
            warnings.append(
                f"This rule cannot send medical questions ({listed}) to {team_label(team)}: the "
                f"hard limits send them to {team_label(routing.MI)}."
            )
    if named and lost >= set(named):
        warnings.append("As written, this rule never decides where a question goes.")
    return warnings


@transactional
def ensure_default_rules() -> None:
    """Seed the routing set-up of a new portal: one rule per category, and the default SLAs.

    The rules (``Default: <category>`` → the engine's default team) are created only when there
    are no rules at all, so an administrator's deletions and edits are never undone; each missing
    SLA row gets the engine's default. Idempotent; no actor and no audit (it is the seed data of
    ``seed-demo`` and fresh installs). One unit of work.
    """
    if not db.session.scalar(select(func.count()).select_from(RoutingRule)):
        for position, category in enumerate(Category, start=1):
            db.session.add(
                RoutingRule(
                    position=position,
                    name=f"Default: {category.label}",
                    categories=[category.value],
                    products=[],
                    keywords=[],
                    countries=[],
                    territories=[],
                    team=DEFAULT_TEAMS[category],
                    active=True,
                )
            )
    stored = set(db.session.scalars(select(SlaPolicy.key)))
    for key, sla in DEFAULT_SLAS.items():
        if key not in stored:
            db.session.add(SlaPolicy(key=key, amount=sla.amount, unit=sla.unit.value))


# --- SLAs ----------------------------------------------------------------------------------------
SLA_KEYS: tuple[str, ...] = (*(c.value for c in Category), URGENT)


def sla_label(key: str) -> str:
    """What an SLA key means, in words."""
    if key == URGENT:
        return f"Any category, when marked {Urgency.URGENT.label.lower()}"
    return Category(key).label


@dataclasses.dataclass(frozen=True)
class SlaRow:
    key: str
    label: str
    amount: int
    unit: SlaUnit
    is_default: bool  # no row stored: the engine's default applies

    def describe(self) -> str:
        """The SLA in words: "4 business hours"."""
        return Sla(self.amount, self.unit).describe()


def list_slas(actor: User) -> list[SlaRow]:
    """Every SLA in force: one per category, then the urgent one (the stored row or the default).

    Administrators and compliance auditors; :class:`NotFound` for anyone else.
    """
    _require_view(actor)
    stored = {row.key: row for row in db.session.scalars(select(SlaPolicy))}
    rows = []
    for key in SLA_KEYS:
        row = stored.get(key)
        if row is not None:
            rows.append(SlaRow(key, sla_label(key), row.amount, SlaUnit(row.unit), False))
        else:
            default = DEFAULT_SLAS[key]
            rows.append(SlaRow(key, sla_label(key), default.amount, default.unit, True))
    return rows


@transactional
def set_sla(actor: User, key: str, *, amount: Any, unit: str) -> SlaRow:
    """Set how long questions of a category (or urgent ones) may wait: 1-999 business hours/days.

    Applies to questions received from now on; due times already set stay. Administrators only.
    Raises :class:`InvalidInput` (``key``, ``amount``, ``unit``; every bad one),
    :class:`PermissionDenied` or :class:`NotFound`. Audits ``sla.changed`` with the before and
    after, when it changed.
    """
    _require_manage(actor)
    problems: dict[str, str] = {}
    if key not in SLA_KEYS:
        problems["key"] = "Choose a category, or urgent."
    if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= MAX_SLA:
        problems["amount"] = f"Enter a whole number from 1 to {MAX_SLA}."
    if unit not in {u.value for u in SlaUnit}:
        problems["unit"] = "Choose business hours or business days."
    if problems:
        raise InvalidInput(next(iter(problems.values())), errors=problems)
    current = next(r for r in list_slas(actor) if r.key == key)
    before = {"amount": current.amount, "unit": current.unit.value}
    after = {"amount": amount, "unit": unit}
    if before != after:
        row = db.session.get(SlaPolicy, key)
        if row is None:
            row = SlaPolicy(key=key)
            db.session.add(row)
        row.amount, row.unit = amount, unit
        audit.record(actor, "sla.changed", ("sla_policies", key), before=before, after=after)
    return SlaRow(key, sla_label(key), amount, SlaUnit(unit), False)


# --- holidays ------------------------------------------------------------------------------------
def list_holidays(actor: User) -> list[Holiday]:
    """Every holiday, earliest first. Administrators and compliance auditors."""
    _require_view(actor)
    return list(db.session.scalars(select(Holiday).order_by(Holiday.day)))


def holidays_text(holidays: Iterable[Holiday]) -> str:
    """The holidays as the textarea shows them: ``YYYY-MM-DD name``, one per line."""
    return "\n".join(f"{h.day.isoformat()} {h.name}".rstrip() for h in holidays)


@dataclasses.dataclass(frozen=True)
class HolidayChange:
    added: list[dt.date]
    removed: list[dt.date]
    renamed: list[dt.date]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.renamed)


@transactional
def replace_holidays(actor: User, text: str) -> HolidayChange:
    """Replace the whole holiday list with the pasted ``text`` (lines ``YYYY-MM-DD [name]``).

    All or nothing: a bad line refuses the whole paste, naming the line; nothing changes. Due
    times already set stay; questions received from now on skip the new holidays. Administrators
    only. Raises :class:`InvalidInput` (field ``text``), :class:`PermissionDenied` or
    :class:`NotFound`. Audits ``holidays.replaced`` with the dates added, removed and renamed, when
    anything changed.
    """
    _require_manage(actor)
    try:
        wanted = parse_named_holidays(text or "")
    except ValueError as exc:
        message = str(exc)
        raise InvalidInput(message[:1].upper() + message[1:] + ".", field="text") from None
    if len(wanted) > MAX_HOLIDAYS:
        raise InvalidInput(f"Paste at most {MAX_HOLIDAYS:,} holidays.", field="text")
    for day, name in sorted(wanted.items()):
        if len(name) > MAX_HOLIDAY_NAME:
            raise InvalidInput(
                f"The name of {day.isoformat()} is longer than {MAX_HOLIDAY_NAME} characters.",
                field="text",
            )
    existing = {h.day: h for h in db.session.scalars(select(Holiday))}
    added = sorted(set(wanted) - set(existing))
    removed = sorted(set(existing) - set(wanted))
    renamed = sorted(d for d in set(wanted) & set(existing) if existing[d].name != wanted[d])
    for day in removed:
        db.session.delete(existing[day])
    for day in renamed:
        existing[day].name = wanted[day]
    for day in added:
        db.session.add(Holiday(day=day, name=wanted[day]))
    change = HolidayChange(added, removed, renamed)
    if change.changed:
        audit.record(
            actor,
            "holidays.replaced",
            ("holidays", None),
            added=[d.isoformat() for d in added],
            removed=[d.isoformat() for d in removed],
            renamed=[d.isoformat() for d in renamed],
        )
    return change


# --- team calendars ------------------------------------------------------------------------------
UPCOMING_DAYS = 365  # how far ahead the holidays page lists a team's public holidays


@dataclasses.dataclass(frozen=True)
class TeamCalendarRow:
    """A team's calendar as the holidays page shows it."""

    key: TeamKey
    label: str
    country: str | None
    timezone: str | None
    upcoming: list[tuple[dt.date, str]]  # its country's public holidays in the coming year

    @property
    def country_name(self) -> str | None:
        return COUNTRIES.get(self.country, self.country) if self.country else None


def list_team_calendars(actor: User, *, today: dt.date | None = None) -> list[TeamCalendarRow]:
    """Every answering team's calendar: country, time zone and the country's public holidays
    from ``today`` for a year. Administrators and compliance auditors."""
    _require_view(actor)
    start = today or utcnow().date()
    rows = {
        t.key: t for t in db.session.scalars(select(Team).where(Team.key.in_(list(QUEUE_TEAMS))))
    }
    found = []
    for key in QUEUE_TEAMS:
        team = rows.get(key)
        country = team.country if team else None
        upcoming = (
            public_holiday_names(country, start, start + dt.timedelta(days=UPCOMING_DAYS))
            if country
            else []
        )
        found.append(
            TeamCalendarRow(
                key, team_label(key), country, team.timezone if team else None, upcoming
            )
        )
    return found


@transactional
def set_team_calendar(
    actor: User, team: str, *, country: str | None, timezone: str | None
) -> TeamCalendarRow:
    """Choose the calendar ``team``'s due times run on: ``country``'s public holidays (ISO 3166
    alpha-2, or none for the company calendar) and ``timezone`` (IANA, or none for
    ``BUSINESS_TIMEZONE``). The company days on the holidays list count for every team.

    Due times already set stay; questions received from now on use the new calendar.
    Administrators only. Raises :class:`InvalidInput` (fields ``team``, ``country``,
    ``timezone``, all reported at once), :class:`PermissionDenied` or :class:`NotFound`. Audits
    ``team.calendar_changed`` with the values before and after, when anything changed.
    """
    _require_manage(actor)
    errors: dict[str, str] = {}
    key = team if team in set(QUEUE_TEAMS) else None
    row = db.session.scalar(select(Team).where(Team.key == key)) if key else None
    if row is None:
        errors["team"] = "Choose one of the answering teams."
    country = (country or "").strip().upper() or None
    if country is not None:
        try:
            if country not in COUNTRIES:
                raise ValueError(country)
            public_calendar(country)
        except ValueError:
            errors["country"] = "Choose a country from the list, or the company calendar."
    timezone = (timezone or "").strip() or None
    if timezone is not None:
        try:
            BusinessCalendar(timezone=timezone)
        except ValueError:
            errors["timezone"] = "Give an IANA time zone such as Europe/Berlin, or leave it empty."
    if errors or row is None:
        raise InvalidInput("Check the team's calendar.", errors=errors)
    before = {"country": row.country, "timezone": row.timezone}
    after = {"country": country, "timezone": timezone}
    if before != after:
        row.country, row.timezone = country, timezone
        audit.record(actor, "team.calendar_changed", row, before=before, after=after)
    return TeamCalendarRow(row.key, team_label(row.key), country, timezone, [])


# --- label facts ---------------------------------------------------------------------------------
def condition_keys() -> list[str]:
    """The condition keys a label's indications may name (``phrases/conditions.txt``), sorted."""
    return sorted(detection.conditions())


def condition_label(key: str) -> str:
    """A condition key for people: its first synonym (without the ``*`` of prefixes), else the
    key in words."""
    synonyms = detection.conditions().get(key)
    return synonyms[0].replace("*", "").strip() if synonyms else key.replace("_", " ")


@dataclasses.dataclass(frozen=True)
class ProductLabelRow:
    product: Product
    label: ProductLabel | None  # None: no label facts yet (only generic off-label phrases apply)


def list_labels(actor: User) -> list[ProductLabelRow]:
    """Every product, by name, with its label facts or ``None``.

    Administrators and compliance auditors; :class:`NotFound` for anyone else.
    """
    _require_view(actor)
    products = db.session.scalars(select(Product).order_by(Product.name, Product.id))
    return [ProductLabelRow(p, db.session.get(ProductLabel, p.id)) for p in products]


def get_label(actor: User, product_id: int) -> ProductLabelRow:
    """One product with its label facts (or ``None``); :class:`NotFound` for an unknown product."""
    _require_view(actor)
    product = db.session.get(Product, product_id)
    if product is None:
        raise NotFound("That product was not found.")
    return ProductLabelRow(product, db.session.get(ProductLabel, product.id))


@dataclasses.dataclass
class LabelInput:
    """A product's label facts: approved indications (condition keys), ages, single-dose range."""

    indications: Sequence[str] = ()
    min_age: int | None = None
    max_age: int | None = None
    dose_min_mg: float | None = None
    dose_max_mg: float | None = None
    populations: str = ""


def _age_problem(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AGE:
        return f"Enter a whole number of years from 0 to {MAX_AGE}, or leave it empty."
    return None


def _dose_problem(value: Any) -> str | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        return "Enter a dose in mg greater than 0, or leave it empty."
    return None


def _label_problems(data: LabelInput) -> dict[str, str]:
    problems: dict[str, str] = {}
    if unknown := _unknown(_distinct(data.indications), condition_keys()):
        problems["indications"] = (
            f"Unknown condition: {', '.join(unknown)}. Use the keys of the conditions list."
        )
    for name in ("min_age", "max_age"):
        if (problem := _age_problem(getattr(data, name))) is not None:
            problems[name] = problem
    for name in ("dose_min_mg", "dose_max_mg"):
        if (problem := _dose_problem(getattr(data, name))) is not None:
            problems[name] = problem
    if (
        not problems.keys() & {"min_age", "max_age"}
        and data.min_age is not None
        and data.max_age is not None
        and data.min_age > data.max_age
    ):
        problems["max_age"] = "The maximum age must not be below the minimum age."
    if (
        not problems.keys() & {"dose_min_mg", "dose_max_mg"}
        and data.dose_min_mg is not None
        and data.dose_max_mg is not None
        and data.dose_min_mg > data.dose_max_mg
    ):
        problems["dose_max_mg"] = "The maximum dose must not be below the minimum dose."
    if len(data.populations or "") > MAX_POPULATIONS:
        problems["populations"] = (
            f"Keep the note to {MAX_POPULATIONS:,} characters (it has {len(data.populations):,})."
        )
    return problems


def _label_snapshot(label: ProductLabel | None) -> dict[str, Any] | None:
    if label is None:
        return None
    return {
        "indications": list(label.indications),
        "min_age": label.min_age,
        "max_age": label.max_age,
        "dose_min_mg": label.dose_min_mg,
        "dose_max_mg": label.dose_max_mg,
        "populations": label.populations,
    }


@transactional
def set_label_facts(actor: User, product_id: int, data: LabelInput) -> ProductLabel:
    """Create or replace a product's label facts, which off-label detection compares texts with.

    Indications are keys of the conditions vocabulary; ages 0-120 years and doses (mg, > 0) are
    optional bounds, the minimum not above the maximum. Administrators only. Raises
    :class:`InvalidInput` (every bad field), :class:`NotFound` (unknown product) or
    :class:`PermissionDenied`. Audits ``product_label.changed`` with the before (``None`` when
    new) and after, when anything changed.
    """
    _require_manage(actor)
    row = get_label(actor, product_id)
    problems = _label_problems(data)
    if problems:
        raise InvalidInput(next(iter(problems.values())), errors=problems)
    label = row.label
    before = _label_snapshot(label)
    if label is None:
        label = ProductLabel(product_id=row.product.id)
        db.session.add(label)
    label.indications = sorted(set(_distinct(data.indications)))
    label.min_age, label.max_age = data.min_age, data.max_age
    label.dose_min_mg = None if data.dose_min_mg is None else float(data.dose_min_mg)
    label.dose_max_mg = None if data.dose_max_mg is None else float(data.dose_max_mg)
    label.populations = (data.populations or "").strip()
    after = _label_snapshot(label)
    if before != after:
        label.updated_at = utcnow()
        audit.record(
            actor,
            "product_label.changed",
            ("product_labels", row.product.id),
            product=row.product.code,
            before=before,
            after=after,
        )
    return label


# --- trying a question ---------------------------------------------------------------------------
def preview_routing(
    actor: User,
    *,
    text: str,
    category: str,
    product_code: str | None = None,
    country: str | None = None,
    territory: str | None = None,
    include_disabled: bool = False,
) -> Decision:
    """What the engine would decide for a question, with the current rules and label facts.

    Writes nothing and audits nothing: it is how an administrator checks a rule before relying
    on it. ``country`` and ``territory`` stand for the asking HCP's (none by default, so rules on
    them cannot match); ``include_disabled`` tries disabled rules too, in their place, as if they
    were enabled. Administrators only. Raises :class:`InvalidInput` (``text``, ``category``,
    ``product``, ``country``, ``territory``; every bad one), :class:`PermissionDenied` or
    :class:`NotFound`.
    """
    _require_manage(actor)
    problems: dict[str, str] = {}
    text = text or ""
    if not text.strip():
        problems["text"] = "Write the question to try."
    elif len(text) > MAX_PREVIEW_TEXT:
        problems["text"] = f"Keep the question to {MAX_PREVIEW_TEXT:,} characters."
    if category not in {c.value for c in Category}:
        problems["category"] = "Choose a category."
    product = (product_code or "").strip() or None
    if product is not None and not facts.products_by_code([product]):
        problems["product"] = "Choose a product from the list, or none."
    country = (country or "").strip().upper() or None
    if country is not None and country not in COUNTRIES:
        problems["country"] = "Choose a country from the list, or none."
    territory = (territory or "").strip() or None
    if territory is not None and not db.session.scalar(
        select(Territory.id).where(Territory.code == territory)
    ):
        problems["territory"] = "Choose a territory from the list, or none."
    if problems:
        raise InvalidInput(next(iter(problems.values())), errors=problems)
    rules = [facts.rule_facts(r) for r in _ordered_rules()] if include_disabled else facts.rules()
    return routing.classify(
        routing.QuestionFacts(
            category=Category(category),
            text=text,
            product=product,
            products=safety.product_names(),
        ),
        routing.HcpFacts(country=country, territory=territory),
        rules,
        facts.labels(),
    )
