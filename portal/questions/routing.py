"""The routing engine: (question, HCP, rules, staff) → decision, as pure functions.

Nothing here touches the database, the clock or the request: callers pass plain facts in and get a
:class:`Decision` back, with the reasons in words a colleague understands. That is what makes the
engine testable as a table of cases and explainable on the question page, and why
``flask questions triage`` gives exactly the answer the portal would.

The order is fixed and documented in ``docs/question-routing.md``:

1. the administrator's rules, first active match by position, else the category's default team;
2. hard limits no rule can override: a reported adverse event is Pharmacovigilance's; a quality
   complaint is Quality's (and PV's when a patient was affected); medical questions and off-label
   intent never stay with a commercial team; a text that may describe an adverse event involves
   Pharmacovigilance as well, whatever the category;
3. assignment within the owning team; 4. the due time from the category's SLA.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from portal.models.reference import COUNTRIES, TeamKey
from portal.questions.calendar import BusinessCalendar, Sla, SlaUnit
from portal.questions.models import (
    COMMERCIAL_TEAMS,
    TERRITORY_TEAMS,
    Category,
    team_label,
)
from portal.safety import detection
from portal.safety.detection import Hit, LabelFacts

MI = TeamKey.MEDICAL_INFORMATION
PV = TeamKey.PHARMACOVIGILANCE

# The team that owns a category when no rule matches (the seed data ships one rule per category
# saying the same, so administrators see and can change them).
DEFAULT_TEAMS: dict[Category, TeamKey] = {
    Category.CLINICAL: MI,
    Category.SAFETY: MI,
    Category.DOSING: MI,
    Category.OFF_LABEL: MI,
    Category.ADVERSE_EVENT: PV,
    Category.QUALITY: TeamKey.QUALITY,
    Category.SAMPLES: TeamKey.SALES,
    Category.ACCESS: TeamKey.MARKET_ACCESS,
    Category.OTHER: MI,
}

URGENT = "urgent"
DEFAULT_SLAS: dict[str, Sla] = {
    Category.ADVERSE_EVENT.value: Sla(1, SlaUnit.DAYS),
    URGENT: Sla(4, SlaUnit.HOURS),
    **{c.value: Sla(2, SlaUnit.DAYS) for c in Category if c is not Category.ADVERSE_EVENT},
}


# --- facts in ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class QuestionFacts:
    category: Category
    text: str
    product: str | None = None  # product code
    urgent: bool = False
    # The company's product names: one named in the text (even misspelt) is an exposure.
    products: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class HcpFacts:
    country: str | None = None
    territory: str | None = None  # territory code


@dataclasses.dataclass(frozen=True)
class RuleFacts:
    """One administrator rule. Empty condition sets match anything."""

    id: int
    name: str
    team: TeamKey
    categories: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()
    keywords: tuple[str, ...] = ()
    countries: frozenset[str] = frozenset()
    territories: frozenset[str] = frozenset()

    def match(self, question: QuestionFacts, hcp: HcpFacts) -> list[str] | None:
        """The conditions that matched, in words, or ``None`` when the rule does not apply."""
        why: list[str] = []
        if self.categories:
            if question.category.value not in self.categories:
                return None
            why.append(f"the category is '{question.category.label}'")
        if self.products:
            if question.product not in self.products:
                return None
            why.append(f"the product is {question.product}")
        if self.countries:
            if hcp.country not in self.countries:
                return None
            why.append(f"the HCP practises in {COUNTRIES.get(hcp.country or '', hcp.country)}")
        if self.territories:
            if hcp.territory not in self.territories:
                return None
            why.append(f"the HCP is in territory {hcp.territory}")
        if self.keywords:
            hit = detection.keyword_hit(question.text, self.keywords)
            if hit is None:
                return None
            why.append(f"the text mentions '{hit.matched}'")
        return why


@dataclasses.dataclass(frozen=True)
class StaffFacts:
    """An active staff member who could take a question."""

    id: int
    name: str
    teams: frozenset[TeamKey]
    territories: frozenset[str] = frozenset()
    products: frozenset[str] = frozenset()
    open_questions: int = 0


# --- decision out ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Decision:
    teams: tuple[TeamKey, ...]  # the owner first, then teams involved as well (PV)
    reasons: tuple[str, ...]
    ae: bool = False
    off_label: bool = False
    patient_affected: bool = False
    rule_id: int | None = None
    ae_reasons: tuple[str, ...] = ()
    assignee_id: int | None = None
    due_at: dt.datetime | None = None
    pv_due_at: dt.datetime | None = None

    @property
    def owner(self) -> TeamKey:
        return self.teams[0]

    def as_record(self) -> dict[str, Any]:
        """What is stored with the question (JSON-safe)."""
        return {
            "teams": [t.value for t in self.teams],
            "reasons": list(self.reasons),
            "rule_id": self.rule_id,
            "ae": self.ae,
            "off_label": self.off_label,
            "patient_affected": self.patient_affected,
            "ae_reasons": list(self.ae_reasons),
        }

    def as_triage(self) -> dict[str, Any]:
        """The ``flask questions triage`` line: ``{"ae", "teams", "reasons"}``."""
        return {
            "ae": self.ae,
            "teams": [t.value for t in self.teams],
            "reasons": list(self.reasons),
        }


def _quoted(hits: Iterable[Hit]) -> list[str]:
    return [h.reason or f"the text mentions '{h.matched}'" for h in hits]


def first_match(
    question: QuestionFacts, hcp: HcpFacts, rules: Sequence[RuleFacts]
) -> tuple[RuleFacts, list[str]] | None:
    """The first of ``rules`` (active, in position order) that applies, with what matched."""
    for rule in rules:
        why = rule.match(question, hcp)
        if why is not None:
            return rule, why
    return None


def classify(
    question: QuestionFacts,
    hcp: HcpFacts,
    rules: Sequence[RuleFacts],
    labels: Mapping[str, LabelFacts],
) -> Decision:
    """Decide which teams a question involves, the owner first, and say why.

    ``rules`` are the active rules in position order. The hard limits are applied after the rules,
    so a rule can choose among allowed teams but never break a limit.
    """
    category = question.category
    reasons: list[str] = []
    owner: TeamKey | None = None
    rule_id: int | None = None
    if (found := first_match(question, hcp, rules)) is not None:
        rule, why = found
        owner, rule_id = rule.team, rule.id
        because = f" because {' and '.join(why)}" if why else ""
        reasons.append(f"routed to {team_label(owner)} by rule '{rule.name}'{because}")
    if owner is None:
        owner = DEFAULT_TEAMS[category]
        reasons.append(
            f"routed to {team_label(owner)}: the default team for '{category.label}' questions"
        )

    ae_finding = detection.detect_adverse_event(question.text, products=question.products)
    ae = ae_finding.flagged or category is Category.ADVERSE_EVENT
    label = labels.get(question.product) if question.product else None
    off_label_finding = detection.detect_off_label(question.text, label)
    off_label = category is Category.OFF_LABEL or off_label_finding.flagged
    patient_affected = False
    also: list[TeamKey] = []

    chosen: TeamKey = owner

    def take_over(team: TeamKey, why: str) -> None:
        nonlocal chosen
        if chosen is not team:
            reasons.append(f"owned by {team_label(team)} instead of {team_label(chosen)}: {why}")
            chosen = team

    # Hard limits, in order of precedence.
    if category is Category.ADVERSE_EVENT:
        take_over(PV, "a reported adverse event always belongs to Pharmacovigilance")
    elif category is Category.QUALITY:
        take_over(TeamKey.QUALITY, "product quality complaints always go to Quality")
        affected = detection.detect_patient_affected(question.text)
        if affected.flagged or ae_finding.flagged:
            patient_affected = True
            also.append(PV)
            shown = _quoted(affected.hits or ae_finding.hits)[0]
            reasons.append(f"routed to Pharmacovigilance as well: a patient was affected ({shown})")
    if chosen in COMMERCIAL_TEAMS:
        if category.is_medical:
            take_over(
                MI,
                f"'{category.label}' is a medical question, and medical questions never go "
                "to commercial teams",
            )
        elif off_label_finding.flagged:
            shown = _quoted(off_label_finding.hits)[0]
            take_over(
                MI,
                f"the text asks about a use outside the label ({shown}); off-label questions "
                "are answered by medical only",
            )
    if off_label_finding.flagged and chosen not in COMMERCIAL_TEAMS and category.is_commercial:
        # Noted even when a rule already sent it to medical, so staff know why it is delicate.
        shown = _quoted(off_label_finding.hits)[0]
        if not any("outside the label" in r for r in reasons):
            reasons.append(f"possible off-label question: {shown}")
    ae_reasons = tuple(_quoted(ae_finding.hits))
    if ae_finding.flagged:
        if chosen is not PV and PV not in also:
            also.append(PV)
            reasons.append(
                f"routed to Pharmacovigilance as well because {ae_reasons[0]}"
                + (f" (and {len(ae_reasons) - 1} more)" if len(ae_reasons) > 1 else "")
            )
        elif chosen is PV:
            reasons.append(f"possible adverse event: {ae_reasons[0]}")
    teams = (chosen, *[t for t in dict.fromkeys(also) if t is not chosen])
    return Decision(
        teams=teams,
        reasons=tuple(reasons),
        ae=ae,
        off_label=off_label,
        patient_affected=patient_affected,
        rule_id=rule_id,
        ae_reasons=ae_reasons,
    )


def assign(
    team: TeamKey, hcp: HcpFacts, product: str | None, staff: Sequence[StaffFacts]
) -> tuple[int | None, str]:
    """Pick the assignee within ``team``: ``(staff id or None, reason)``.

    Teams that work by territory (MSL, Sales, Market Access) give the question to the HCP's own
    colleague for that territory (the one covering the product first, then the least busy);
    other teams give it to the member with the fewest open questions. Nobody available leaves it
    in the team's queue.
    """
    members = [s for s in staff if team in s.teams]
    label = team_label(team)
    if team in TERRITORY_TEAMS:
        if not hcp.territory:
            return None, f"left in the {label} queue: the HCP has no territory"
        aligned = [s for s in members if hcp.territory in s.territories]
        if not aligned:
            return None, f"left in the {label} queue: nobody on it covers territory {hcp.territory}"
        if product:
            covering = [s for s in aligned if not s.products or product in s.products]
            aligned = covering or aligned
        chosen = min(aligned, key=lambda s: (s.open_questions, s.id))
        return chosen.id, f"assigned to {chosen.name}, who covers territory {hcp.territory}"
    if not members:
        return None, f"left in the {label} queue: nobody on the team is available"
    chosen = min(members, key=lambda s: (s.open_questions, s.id))
    return chosen.id, (
        f"assigned to {chosen.name}, who has the fewest open questions on {label} "
        f"({chosen.open_questions})"
    )


def sla_for(question: QuestionFacts, slas: Mapping[str, Sla]) -> Sla:
    """The SLA that applies: the category's, or the urgent one when that is sooner."""

    def get(key: str) -> Sla:
        return slas.get(key) or DEFAULT_SLAS[key]

    sla = get(question.category.value)
    if question.urgent:
        urgent = get(URGENT)
        if _hours(urgent) < _hours(sla):
            sla = urgent
    return sla


def _hours(sla: Sla) -> float:
    # For comparing SLAs only: a business day counts as 8 business hours.
    return sla.amount * (8 if sla.unit is SlaUnit.DAYS else 1)


def team_calendar(
    team: TeamKey,
    company: BusinessCalendar,
    calendars: Mapping[TeamKey, BusinessCalendar] | None,
) -> BusinessCalendar:
    """``team``'s own calendar when ``calendars`` has one, else the ``company`` calendar."""
    return (calendars or {}).get(team, company)


def route(
    question: QuestionFacts,
    hcp: HcpFacts,
    *,
    rules: Sequence[RuleFacts],
    staff: Sequence[StaffFacts],
    labels: Mapping[str, LabelFacts],
    calendar: BusinessCalendar,
    slas: Mapping[str, Sla],
    received_at: dt.datetime,
    calendars: Mapping[TeamKey, BusinessCalendar] | None = None,
) -> Decision:
    """The whole decision: teams and reasons, assignee within the owner, due times.

    Each due time is counted on the calendar of the team that must meet it (the owner's; PV's
    for ``pv_due_at``) from ``calendars``, or on ``calendar`` for a team not in it.
    """
    decision = classify(question, hcp, rules, labels)
    assignee_id, why = assign(decision.owner, hcp, question.product, staff)
    sla = sla_for(question, slas)
    due_at = team_calendar(decision.owner, calendar, calendars).due_at(received_at, sla)
    reasons = [*decision.reasons, why, f"due within {sla.describe()}"]
    pv_due_at = None
    if decision.ae or decision.patient_affected:
        pv_sla = slas.get(Category.ADVERSE_EVENT.value) or DEFAULT_SLAS[Category.ADVERSE_EVENT]
        pv_due_at = team_calendar(PV, calendar, calendars).due_at(received_at, pv_sla)
    return dataclasses.replace(
        decision,
        reasons=tuple(reasons),
        assignee_id=assignee_id,
        due_at=due_at,
        pv_due_at=pv_due_at,
    )


# --- follow-ups ----------------------------------------------------------------------------------
# What the team that loses a question keeps knowing about it: never the words themselves.
MOVED_WHY = "medical content in a follow-up"


@dataclasses.dataclass(frozen=True)
class FollowUpDecision:
    """What a follow-up changes about its question.

    ``move_to`` is Medical Information when the follow-up brought medical content to a question
    a commercial team owns (then ``assignee_id`` and ``due_at`` say who has it now and by when);
    ``pv`` says a PV case opens for the follow-up. ``words`` are the follow-up's own words that
    made it medical, for the reasons staff on the medical side read.
    """

    reasons: tuple[str, ...] = ()
    move_to: TeamKey | None = None
    ae: bool = False
    off_label: bool = False
    patient_affected: bool = False
    pv: bool = False
    ae_reasons: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    assignee_id: int | None = None
    due_at: dt.datetime | None = None


def _mentions(found: Sequence[tuple[str, str]], *, limit: int = 3) -> str:
    """``'off-label' (a use outside the label) and 'hospitalised' (a possible adverse event)``."""
    shown = [f"'{word}' ({what})" for word, what in found[:limit]]
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    if len(shown) > 1:
        return f"{', '.join(shown[:-1])} and {shown[-1]}{more}"
    return f"{shown[0]}{more}"


def classify_follow_up(
    text: str,
    question: QuestionFacts,
    owner: TeamKey,
    hcp: HcpFacts,
    rules: Sequence[RuleFacts],
    labels: Mapping[str, LabelFacts],
) -> FollowUpDecision:
    """Read a follow-up the way :func:`classify` reads a question, for the team that owns it.

    ``question`` holds the question's own facts (category, product, urgency; its text is not
    read again), ``text`` the follow-up's. The follow-up carries medical content when it shows
    off-label intent (generic phrases or the product's label facts), may describe an adverse
    event or a patient affected, or when the first administrator rule it matches sends it to a
    medical team because of its keywords (the same rules, in the same order, as a new question).
    The hard limits then apply to the new words: medical content never stays with a commercial
    team (Medical Information takes the question); a possible adverse event involves
    Pharmacovigilance whoever owns the question, and so does a patient affected by a quality
    problem. A question a medical team owns stays with it.
    """
    facts = dataclasses.replace(question, text=text)
    label = labels.get(question.product) if question.product else None
    off_label = detection.detect_off_label(text, label)
    ae = detection.detect_adverse_event(text, products=question.products)
    affected = detection.detect_patient_affected(text)
    found: list[tuple[str, str]] = []
    found += [(h.matched, "a use outside the label") for h in off_label.hits]
    found += [(h.matched, "a possible adverse event") for h in ae.hits]
    found += [
        (h.matched, "a patient affected")
        for h in affected.hits
        if h.list == detection.HitList.PATIENT_AFFECTED  # its adverse-event hits are above
    ]
    matched = first_match(facts, hcp, rules)
    if matched is not None and matched[0].keywords and matched[0].team not in COMMERCIAL_TEAMS:
        rule = matched[0]
        hit = detection.keyword_hit(text, rule.keywords)
        if hit is not None:
            found.append((hit.matched, f"for {team_label(rule.team)} by rule '{rule.name}'"))
    distinct: dict[str, tuple[str, str]] = {}  # each word once, first reason kept
    for word, why in found:
        distinct.setdefault(word.casefold(), (word, why))
    medical = list(distinct.values())

    reasons: list[str] = []
    move_to: TeamKey | None = None
    if owner in COMMERCIAL_TEAMS and medical:
        move_to = MI
        reasons.append(
            f"moved to {team_label(MI)} because the follow-up mentions {_mentions(medical)}: "
            f"medical content never stays with {team_label(owner)}"
        )
    elif off_label.flagged:
        words = [(h.matched, "a use outside the label") for h in off_label.hits]
        reasons.append(f"possible off-label question: the follow-up mentions {_mentions(words)}")
    quality = question.category is Category.QUALITY or owner is TeamKey.QUALITY
    pv_hits = ae.hits or (affected.hits if quality else ())
    if ae.flagged:
        words = [(h.matched, "a possible adverse event") for h in ae.hits]
        if owner is PV:
            reasons.append(f"possible adverse event: the follow-up mentions {_mentions(words)}")
        else:
            reasons.append(
                f"routed to {team_label(PV)} as well because the follow-up mentions "
                f"{_mentions(words)}"
            )
    elif pv_hits:
        reasons.append(
            f"routed to {team_label(PV)} as well: a patient was affected (the follow-up "
            f"mentions '{pv_hits[0].matched}')"
        )
    return FollowUpDecision(
        reasons=tuple(reasons),
        move_to=move_to,
        ae=ae.flagged,
        off_label=off_label.flagged,
        patient_affected=affected.flagged,
        pv=bool(pv_hits),
        ae_reasons=tuple(_quoted(pv_hits)),
        words=tuple(w for w, _ in medical),
    )


def route_follow_up(
    text: str,
    question: QuestionFacts,
    owner: TeamKey,
    hcp: HcpFacts,
    *,
    rules: Sequence[RuleFacts],
    staff: Sequence[StaffFacts],
    labels: Mapping[str, LabelFacts],
    calendar: BusinessCalendar,
    slas: Mapping[str, Sla],
    received_at: dt.datetime,
    calendars: Mapping[TeamKey, BusinessCalendar] | None = None,
) -> FollowUpDecision:
    """The whole decision for a follow-up: :func:`classify_follow_up`, and when the question
    moves, its assignee within Medical Information (:func:`assign`) and a due time on the SLA the
    question would get as new (:func:`sla_for`), counted from the follow-up on the calendar of
    the team it moves to (as in :func:`route`)."""
    decision = classify_follow_up(text, question, owner, hcp, rules, labels)
    if decision.move_to is None:
        return decision
    assignee_id, why = assign(decision.move_to, hcp, question.product, staff)
    sla = sla_for(question, slas)
    return dataclasses.replace(
        decision,
        reasons=(*decision.reasons, why, f"due within {sla.describe()} of the follow-up"),
        assignee_id=assignee_id,
        due_at=team_calendar(decision.move_to, calendar, calendars).due_at(received_at, sla),
    )
