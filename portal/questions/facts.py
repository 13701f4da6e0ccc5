"""Read what the routing engine needs from the database, as the engine's plain facts.

The engine stays pure; these loaders are the one place that turns rows (rules, staff, label facts,
holidays, SLAs) into its inputs, shared by question submission, the rules page's preview and
``flask questions triage``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from flask import current_app
from sqlalchemy import func, or_, select

from portal.extensions import db
from portal.models import Product, Team, TeamKey, TeamMembership, User
from portal.policy import QUESTION_ROLES
from portal.questions.calendar import BusinessCalendar, Sla, SlaUnit
from portal.questions.models import (
    QUEUE_TEAMS,
    Holiday,
    ProductLabel,
    Question,
    QuestionStatus,
    RoutingRule,
    SlaPolicy,
)
from portal.questions.routing import DEFAULT_SLAS, HcpFacts, RuleFacts, StaffFacts
from portal.safety.detection import LabelFacts


def _time(value: str, name: str) -> dt.time:
    try:
        return dt.time.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be a time like 09:00, not {value!r}") from exc


def calendar(team: TeamKey | None = None) -> BusinessCalendar:
    """The business calendar ``team``'s due times run on; the company calendar without one.

    The one place a calendar is built. Every calendar has the configured working day and the
    company days administrators list (the holidays table). A team with a country adds that
    country's public holidays (from the ``holidays`` package) and runs on its own time zone
    when it has one, else on ``BUSINESS_TIMEZONE``. A team without a country, or missing from
    the database, gets the company calendar.
    """
    config = current_app.config
    company_days = frozenset(db.session.scalars(select(Holiday.day)).all())
    row = db.session.scalar(select(Team).where(Team.key == team)) if team is not None else None
    return BusinessCalendar(
        timezone=(row.timezone if row else None) or config["BUSINESS_TIMEZONE"],
        opens=_time(config["BUSINESS_OPENS"], "BUSINESS_OPENS"),
        closes=_time(config["BUSINESS_CLOSES"], "BUSINESS_CLOSES"),
        holidays=company_days,
        country=row.country if row else None,
    )


def team_calendars() -> dict[TeamKey, BusinessCalendar]:
    """The calendar of every team that has a country or time zone of its own, by team."""
    teams = db.session.scalars(
        select(Team.key).where(or_(Team.country.is_not(None), Team.timezone.is_not(None)))
    ).all()
    return {key: calendar(key) for key in teams}


def slas() -> dict[str, Sla]:
    """Every SLA, the table's rows over the defaults."""
    found = dict(DEFAULT_SLAS)
    for row in db.session.scalars(select(SlaPolicy)):
        found[row.key] = Sla(row.amount, SlaUnit(row.unit))
    return found


def rules() -> list[RuleFacts]:
    """The active rules, in position order."""
    rows = db.session.scalars(
        select(RoutingRule)
        .where(RoutingRule.active.is_(True))
        .order_by(RoutingRule.position, RoutingRule.id)
    )
    return [rule_facts(r) for r in rows]


def rule_facts(rule: RoutingRule) -> RuleFacts:
    return RuleFacts(
        id=rule.id,
        name=rule.name,
        team=rule.team,
        categories=frozenset(rule.categories),
        products=frozenset(rule.products),
        keywords=tuple(rule.keywords),
        countries=frozenset(rule.countries),
        territories=frozenset(rule.territories),
    )


def label_facts(label: ProductLabel) -> LabelFacts:
    return LabelFacts(
        product=label.product.code,
        product_name=label.product.name,
        indications=tuple(label.indications),
        min_age=label.min_age,
        max_age=label.max_age,
        dose_min_mg=label.dose_min_mg,
        dose_max_mg=label.dose_max_mg,
        populations=label.populations,
    )


def labels() -> dict[str, LabelFacts]:
    """Every product's label facts, by product code."""
    rows = db.session.scalars(select(ProductLabel).join(Product))
    return {row.product.code: label_facts(row) for row in rows}


def hcp_facts(hcp: User) -> HcpFacts:
    profile = hcp.hcp_profile
    return HcpFacts(
        country=profile.country if profile else None,
        territory=profile.territory.code if profile and profile.territory else None,
    )


def open_counts() -> dict[int, int]:
    """Open questions per assignee (for "the member with the fewest open questions")."""
    rows = db.session.execute(
        select(Question.assignee_id, func.count())
        .where(
            Question.assignee_id.is_not(None),
            Question.status.in_([QuestionStatus.RECEIVED, QuestionStatus.IN_PROGRESS]),
        )
        .group_by(Question.assignee_id)
    )
    return {user_id: int(count) for user_id, count in rows if user_id is not None}


def staff() -> list[StaffFacts]:
    """Active members of the answering teams, with their coverage and current load."""
    counts = open_counts()
    members = db.session.scalars(
        select(User)
        .join(TeamMembership, TeamMembership.user_id == User.id)
        .join(Team, Team.id == TeamMembership.team_id)
        .where(
            User.suspended.is_(False),
            User.role.in_(list(QUESTION_ROLES)),
            Team.key.in_(list(QUEUE_TEAMS)),
        )
        .distinct()
        .order_by(User.id)
    ).all()
    return [staff_facts(user, counts.get(user.id, 0)) for user in members]


def staff_facts(user: User, open_questions: int = 0) -> StaffFacts:
    return StaffFacts(
        id=user.id,
        name=user.name,
        teams=frozenset(t.key for t in user.teams),
        territories=frozenset(t.code for t in user.territories),
        products=frozenset(p.code for p in user.products),
        open_questions=open_questions,
    )


def product_code(product_id: int | None) -> str | None:
    if product_id is None:
        return None
    product = db.session.get(Product, product_id)
    return product.code if product else None


def products_by_code(codes: Sequence[str]) -> dict[str, Product]:
    if not codes:
        return {}
    rows = db.session.scalars(select(Product).where(Product.code.in_(list(codes))))
    return {p.code: p for p in rows}
