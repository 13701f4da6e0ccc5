"""The routing engine as a table: (category, text, HCP, rules, staff) → teams, assignee, due.

Pure functions, no database: every case reads as one line of the routing policy.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from portal.models.reference import TeamKey
from portal.questions.calendar import BusinessCalendar, Sla, SlaUnit
from portal.questions.models import Category
from portal.questions.routing import (
    DEFAULT_SLAS,
    DEFAULT_TEAMS,
    HcpFacts,
    QuestionFacts,
    RuleFacts,
    StaffFacts,
    assign,
    classify,
    route,
)
from portal.safety.detection import LabelFacts

MI = TeamKey.MEDICAL_INFORMATION
MSL = TeamKey.MSL
SALES = TeamKey.SALES
ACCESS = TeamKey.MARKET_ACCESS
PV = TeamKey.PHARMACOVIGILANCE
QUALITY = TeamKey.QUALITY

NY = ZoneInfo("America/New_York")
LABELS = {
    "CVX": LabelFacts(
        product="CVX",
        product_name="Cardiovex",
        indications=("hypertension", "heart_failure"),
        min_age=18,
        dose_min_mg=5,
        dose_max_mg=20,
    )
}
US_NE = HcpFacts(country="US", territory="US-NE")
DE = HcpFacts(country="DE", territory="DE")
NOBODY = HcpFacts()


def rule(rule_id: int, team: TeamKey, **conditions: object) -> RuleFacts:
    converted = {
        key: (tuple(value) if key == "keywords" else frozenset(value))  # type: ignore[call-overload]
        for key, value in conditions.items()
    }
    return RuleFacts(id=rule_id, name=f"rule {rule_id}", team=team, **converted)  # type: ignore[arg-type]


# category, text, product, hcp, rules → teams (owner first), AE flag
CASES = [
    # The category defaults.
    ("dosing", "What is the usual starting dose in renal disease?", "CVX", US_NE, [], [MI], False),
    ("clinical", "Are there data at 12 weeks versus placebo?", None, US_NE, [], [MI], False),
    ("safety", "Is it safe with beta blockers in general?", None, US_NE, [], [MI], False),
    ("off_label", "Any evidence in another indication?", None, US_NE, [], [MI], False),
    ("samples", "Could I get starter samples for my clinic?", "CVX", US_NE, [], [SALES], False),
    ("access", "Which co-pay programme covers this product?", "CVX", US_NE, [], [ACCESS], False),
    ("other", "How do I change my portal e-mail address?", None, US_NE, [], [MI], False),
    ("adverse_event", "Question about a patient of mine.", None, US_NE, [], [PV], True),
    ("quality", "The carton arrived damaged and the seal was broken.", None, US_NE, [], [QUALITY],
     False),
    # Adverse events reach PV as well, whatever the category, in any language.
    ("dosing", "The patient was hospitalised after the second dose.", "CVX", US_NE, [], [MI, PV],
     True),
    ("samples", "Need samples; one patient got a rash last time.", "CVX", US_NE, [], [SALES, PV],
     True),
    ("access", "El paciente fue hospitalizado, ¿cubre el seguro?", None, DE, [], [ACCESS, PV],
     True),
    ("clinical", "Patient ist nach der Einnahme verstorben.", None, DE, [], [MI, PV], True),
    ("other", "Pt had a rxn, went to the ER.", None, US_NE, [], [MI, PV], True),
    # Negated mentions are still flagged for review.
    ("dosing", "No side effects so far, what dose next?", "CVX", US_NE, [], [MI, PV], True),
    # Quality complaints: Quality, and PV when a patient was affected.
    ("quality", "Cracked vial; my patient developed a rash after using it.", None, US_NE, [],
     [QUALITY, PV], True),
    # Off-label intent under a commercial category goes to Medical Information.
    ("samples", "Can I use samples for off-label use in children?", "CVX", US_NE, [], [MI], False),
    ("access", "Is it reimbursed for a 40 mg dose?", "CVX", US_NE, [], [MI], False),
    ("other", "Does it help with psoriasis?", "CVX", US_NE, [], [MI], False),
    ("samples", "Samples for my hypertension patients at 10 mg please", "CVX", US_NE, [], [SALES],
     False),
    # Rules choose among allowed teams...
    ("clinical", "Data question", None, DE, [rule(1, MSL, countries={"DE"})], [MSL], False),
    ("clinical", "Data question", None, US_NE, [rule(1, MSL, countries={"DE"})], [MI], False),
    ("clinical", "Data question", None, US_NE, [rule(1, MSL, territories={"US-NE"})], [MSL], False),
    ("clinical", "Data question", "CVX", US_NE, [rule(1, MSL, products={"CVX"})], [MSL], False),
    ("other", "About compassionate use please", None, US_NE,
     [rule(1, MSL, keywords=["compassionate use"])], [MSL], False),
    ("other", "Sobre el USO COMPASIVO", None, US_NE,
     [rule(1, MSL, keywords=["compassionate use", "uso compasivo"])], [MSL], False),
    ("samples", "Starter samples please", None, US_NE,
     [rule(1, ACCESS, categories={"samples"}), rule(2, MSL, categories={"samples"})], [ACCESS],
     False),  # first match wins
    # ...but never break a hard limit.
    ("dosing", "Usual dose?", None, US_NE, [rule(1, SALES, categories={"dosing"})], [MI], False),
    ("off_label", "Any evidence in another indication?", None, US_NE,
     [rule(1, ACCESS, categories={"off_label"})], [MI], False),
    ("adverse_event", "My patient reacted badly.", None, US_NE,
     [rule(1, MI, categories={"adverse_event"})], [PV], True),
    ("quality", "The blister pack was empty.", None, US_NE,
     [rule(1, ACCESS, categories={"quality"})], [QUALITY], False),
    ("samples", "Samples for off-label use please", None, US_NE,
     [rule(1, SALES, keywords=["samples"])], [MI], False),
    ("dosing", "Patient overdosed on it", None, US_NE, [rule(1, SALES, keywords=["patient"])],
     [MI, PV], True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("category", "text", "product", "hcp", "rules", "teams", "ae"),
    CASES,
    ids=[f"{c[0]}:{c[1][:30]}" for c in CASES],
)
def test_routing_decides_teams(category, text, product, hcp, rules, teams, ae):
    decision = classify(QuestionFacts(Category(category), text, product), hcp, rules, LABELS)
    assert list(decision.teams) == teams
    assert decision.ae is ae
    assert decision.reasons, "every decision says why"


def test_every_category_has_a_default_team():
    assert set(DEFAULT_TEAMS) == set(Category)


def test_medical_categories_never_end_with_a_commercial_team_whatever_the_rule():
    for category in Category:
        if not category.is_medical:
            continue
        for team in (SALES, ACCESS):
            decision = classify(
                QuestionFacts(category, "A plain question"),
                US_NE,
                [rule(1, team)],
                LABELS,
            )
            assert decision.owner not in (SALES, ACCESS), (category, team)


def test_reason_names_the_word_that_sent_it_to_pharmacovigilance():
    decision = classify(
        QuestionFacts(Category.DOSING, "My patient was hospitalised yesterday."), US_NE, [], {}
    )
    assert any("Pharmacovigilance" in r and "hospitalised" in r for r in decision.reasons)


def test_reason_says_why_a_rule_was_overridden():
    decision = classify(
        QuestionFacts(Category.DOSING, "Usual dose?"),
        US_NE,
        [rule(7, SALES, categories={"dosing"})],
        {},
    )
    assert decision.rule_id == 7
    assert any("rule 7" in r for r in decision.reasons)
    assert any("never go to commercial teams" in r for r in decision.reasons)


def test_off_label_reason_quotes_the_label():
    decision = classify(
        QuestionFacts(Category.SAMPLES, "Samples for an 8-year-old please", "CVX"),
        US_NE,
        [],
        LABELS,
    )
    assert decision.owner is MI
    assert decision.off_label
    assert any("outside the label" in r for r in decision.reasons)


def test_triage_line_has_the_contract_fields():
    decision = classify(QuestionFacts(Category.OTHER, "rash after dose"), NOBODY, [], {})
    assert decision.as_triage() == {
        "ae": True,
        "teams": ["medical_information", "pharmacovigilance"],
        "reasons": list(decision.reasons),
    }


# --- assignment ----------------------------------------------------------------------------------
def staff(
    staff_id: int,
    team: TeamKey,
    *,
    territories: tuple[str, ...] = (),
    products: tuple[str, ...] = (),
    open_questions: int = 0,
) -> StaffFacts:
    return StaffFacts(
        id=staff_id,
        name=f"Person {staff_id}",
        teams=frozenset({team}),
        territories=frozenset(territories),
        products=frozenset(products),
        open_questions=open_questions,
    )


ASSIGN_CASES = [
    # team, hcp, product, staff → assignee
    (MSL, US_NE, None, [staff(1, MSL, territories=("US-SO",)),
                        staff(2, MSL, territories=("US-NE",))], 2),
    (MSL, US_NE, None, [staff(1, MSL, territories=("US-NE",), open_questions=3),
                        staff(2, MSL, territories=("US-NE",), open_questions=1)], 2),
    (MSL, US_NE, "ONC", [staff(1, MSL, territories=("US-NE",), products=("CVX",)),
                         staff(2, MSL, territories=("US-NE",), products=("ONC",),
                               open_questions=5)], 2),
    (SALES, US_NE, None, [staff(1, SALES, territories=("US-WE",))], None),  # nobody covers it
    (SALES, NOBODY, None, [staff(1, SALES, territories=("US-NE",))], None),  # no territory
    (MI, US_NE, None, [staff(4, MI, open_questions=2), staff(3, MI, open_questions=2),
                       staff(5, MI, open_questions=7)], 3),  # fewest open, then lowest id
    (MI, US_NE, None, [staff(1, MSL, territories=("US-NE",))], None),  # nobody on the team
    (PV, DE, None, [staff(9, PV)], 9),
]  # fmt: skip


@pytest.mark.parametrize(("team", "hcp", "product", "people", "expected"), ASSIGN_CASES)
def test_assignment_within_the_team(team, hcp, product, people, expected):
    assignee, reason = assign(team, hcp, product, people)
    assert assignee == expected
    assert reason.startswith("assigned to" if expected else "left in the")


# --- due times -----------------------------------------------------------------------------------
FRIDAY_3PM = dt.datetime(2026, 11, 27, 15, 0, tzinfo=NY)  # the day after Thanksgiving


def ny(month: int, day: int, hour: int) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=NY).astimezone(dt.UTC)


DUE_CASES = [
    # category, urgent, holidays, slas → due
    ("dosing", False, (), {}, ny(12, 1, 15)),  # 2 business days: Fri 2 h + Mon 8 h + Tue 6 h
    ("dosing", True, (), {}, ny(11, 30, 11)),  # 4 business hours: Fri 2 h + Mon 2 h
    ("adverse_event", False, (), {}, ny(11, 30, 15)),  # 1 business day
    ("adverse_event", False, (dt.date(2026, 11, 30),), {}, ny(12, 1, 15)),  # Monday off
    ("samples", False, (), {"samples": Sla(3, SlaUnit.DAYS)}, ny(12, 2, 15)),
    ("samples", True, (), {"samples": Sla(2, SlaUnit.HOURS)}, ny(11, 27, 17)),  # sooner wins
]


@pytest.mark.parametrize(("category", "urgent", "holidays", "slas", "due"), DUE_CASES)
def test_due_time_follows_the_sla_and_the_business_calendar(category, urgent, holidays, slas, due):
    decision = route(
        QuestionFacts(Category(category), "A plain question", urgent=urgent),
        US_NE,
        rules=[],
        staff=[],
        labels={},
        calendar=BusinessCalendar(timezone="America/New_York", holidays=frozenset(holidays)),
        slas={**DEFAULT_SLAS, **slas},
        received_at=FRIDAY_3PM,
    )
    assert decision.due_at == due


def test_a_flagged_question_gives_pv_its_own_one_day_clock():
    decision = route(
        QuestionFacts(Category.DOSING, "He died two days later."),
        US_NE,
        rules=[],
        staff=[staff(1, MI)],
        labels={},
        calendar=BusinessCalendar(timezone="America/New_York"),
        slas=DEFAULT_SLAS,
        received_at=FRIDAY_3PM,
    )
    assert decision.teams == (MI, PV)
    assert decision.assignee_id == 1
    assert decision.due_at == ny(12, 1, 15)
    assert decision.pv_due_at == ny(11, 30, 15)
    assert any(r.startswith("assigned to Person 1") for r in decision.reasons)
