"""The routing set-up services: rules, SLAs, holidays, label facts and trying a question."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.errors import InvalidInput, NotFound, PermissionDenied
from portal.extensions import db
from portal.models import AuditRecord, Product, Role, TeamKey, User
from portal.questions import routing, settings
from portal.questions.calendar import SlaUnit
from portal.questions.models import (
    Category,
    Holiday,
    ProductLabel,
    RoutingRule,
    SlaPolicy,
)
from tests.factories import make_product, make_territory, make_user

OUTSIDERS = [r for r in Role if r not in (Role.ADMIN, Role.COMPLIANCE)]


@pytest.fixture
def admin(app) -> User:
    return make_user(Role.ADMIN, name="Alex Admin")


@pytest.fixture
def auditor(app) -> User:
    return make_user(Role.COMPLIANCE, name="Cora Compliance")


@pytest.fixture
def cardiovex(app) -> Product:
    return make_product(code="CVX", name="Cardiovex")


def rule_input(**overrides: Any) -> settings.RuleInput:
    values: dict[str, Any] = {"name": "Dosing to MI", "team": "medical_information"}
    values["categories"] = overrides.pop("categories", ["dosing"])
    values.update(overrides)
    return settings.RuleInput(**values)


def make_rule(admin: User, **overrides: Any) -> RoutingRule:
    return settings.create_rule(admin, rule_input(**overrides))


def audit_log(target_type: str | None = None) -> list[tuple[str, str | None, dict[str, Any]]]:
    """``(action, target id, details)`` of the audit records (about ``target_type``), in order."""
    query = select(AuditRecord).order_by(AuditRecord.id)
    if target_type is not None:
        query = query.where(AuditRecord.target_type == target_type)
    return [(r.action, r.target_id, r.details) for r in db.session.scalars(query)]


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditRecord)) or 0


def order() -> list[tuple[int, str]]:
    """``(position, name)`` of every rule, in the engine's order."""
    db.session.expire_all()
    rules = db.session.scalars(select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id))
    return [(r.position, r.name) for r in rules]


def refused(call: Callable[[], object]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        call()
    return info.value.errors


# --- who may do what -----------------------------------------------------------------------------
def _reads(actor: User, rule: RoutingRule, product: Product) -> list[Callable[[], object]]:
    return [
        lambda: settings.list_rules(actor),
        lambda: settings.get_rule(actor, rule.id),
        lambda: settings.list_slas(actor),
        lambda: settings.list_holidays(actor),
        lambda: settings.list_labels(actor),
        lambda: settings.get_label(actor, product.id),
    ]


def _writes(actor: User, rule: RoutingRule, product: Product) -> list[Callable[[], object]]:
    return [
        lambda: settings.create_rule(actor, rule_input(name="Sneaky")),
        lambda: settings.update_rule(actor, rule.id, rule_input(name="Renamed")),
        lambda: settings.move_rule(actor, rule.id, direction="down"),
        lambda: settings.set_rule_active(actor, rule.id, False),
        lambda: settings.delete_rule(actor, rule.id),
        lambda: settings.set_sla(actor, "dosing", amount=3, unit="days"),
        lambda: settings.replace_holidays(actor, "2026-12-25 Christmas"),
        lambda: settings.set_label_facts(actor, product.id, settings.LabelInput(min_age=18)),
        lambda: settings.preview_routing(actor, text="What dose?", category="dosing"),
    ]


def test_administrator_reads_and_changes_everything(admin, cardiovex):
    rule = make_rule(admin)
    make_rule(admin, name="Second")

    for read in _reads(admin, rule, cardiovex):
        read()
    for write in _writes(admin, rule, cardiovex):
        write()

    assert audit_count() > 0


def test_compliance_reads_everything_but_changes_nothing(admin, auditor, cardiovex):
    rule = make_rule(admin)
    before = audit_count()

    for read in _reads(auditor, rule, cardiovex):
        read()
    for write in _writes(auditor, rule, cardiovex):
        with pytest.raises(PermissionDenied):
            write()

    assert order() == [(1, "Dosing to MI")]
    assert audit_count() == before


@pytest.mark.parametrize("role", OUTSIDERS)
def test_other_roles_find_no_routing_set_up(admin, cardiovex, role):
    rule = make_rule(admin)
    outsider = make_user(role)

    for call in [*_reads(outsider, rule, cardiovex), *_writes(outsider, rule, cardiovex)]:
        with pytest.raises(NotFound):
            call()

    assert order() == [(1, "Dosing to MI")]


def test_suspended_administrator_finds_nothing(app):
    suspended = make_user(Role.ADMIN, suspended=True, suspended_reason="Left")

    with pytest.raises(NotFound):
        settings.list_rules(suspended)


# --- rules ---------------------------------------------------------------------------------------
def test_new_rules_are_appended_at_the_end_and_audited(admin, cardiovex):
    territory = make_territory(code="US-NE")
    first = make_rule(admin, name="First")
    second = make_rule(
        admin,
        name="  Cardiovex in the Northeast  ",
        team="msl",
        categories=["clinical", "dosing"],
        products=["CVX"],
        countries=["us"],
        territories=[territory.code],
        keywords="  compassionate use \n\n expanded access\n",
    )

    assert (first.position, second.position) == (1, 2)
    assert second.name == "Cardiovex in the Northeast"
    assert second.team is TeamKey.MSL
    assert second.categories == ["clinical", "dosing"]
    assert second.products == ["CVX"]
    assert second.countries == ["US"]
    assert second.territories == ["US-NE"]
    assert second.keywords == ["compassionate use", "expanded access"]
    assert second.active is True
    action, target_id, details = audit_log("routing_rules")[-1]
    assert (action, target_id) == ("routing_rule.created", str(second.id))
    assert details["team"] == "msl" and details["keywords"] == second.keywords
    assert audit_log("routing_rules")[-1] == audit_log()[-1]


def test_keywords_may_be_given_as_a_list_and_duplicates_are_dropped(admin):
    rule = make_rule(admin, categories=[], keywords=["Samples", " samples ", "", "sample box"])

    assert rule.keywords == ["Samples", "sample box"]


def test_every_bad_field_of_a_rule_is_reported_at_once(admin):
    errors = refused(
        lambda: settings.create_rule(
            admin,
            settings.RuleInput(
                name="",
                team="compliance",
                categories=["dosing", "gossip"],
                products=["NOPE"],
                countries=["XX"],
                territories=["NOWHERE"],
                keywords="x" * 101,
            ),
        )
    )

    assert set(errors) == {
        "name",
        "team",
        "categories",
        "products",
        "countries",
        "territories",
        "keywords",
    }
    assert "gossip" in errors["categories"]
    assert "NOPE" in errors["products"]
    assert "XX" in errors["countries"]
    assert "NOWHERE" in errors["territories"]
    assert "line 1" in errors["keywords"]
    assert order() == []


@pytest.mark.parametrize(
    ("overrides", "field", "fragment"),
    [
        ({"name": "   "}, "name", "name"),
        ({"name": "n" * 121}, "name", "120"),
        ({"team": "content"}, "team", "answering teams"),
        ({"team": ""}, "team", "answering teams"),
        ({"categories": ["DOSING"]}, "categories", "DOSING"),
        ({"keywords": "ok\n" + "k" * 101}, "keywords", "line 2"),
        ({"keywords": "\n".join(f"word{i}" for i in range(51))}, "keywords", "at most 50"),
        ({"keywords": "fine\n***"}, "keywords", "Line 2"),
    ],
)
def test_a_bad_rule_field_is_named(admin, overrides, field, fragment):
    errors = refused(lambda: settings.create_rule(admin, rule_input(**overrides)))

    assert list(errors) == [field]
    assert fragment in errors[field]


def test_fifty_keywords_of_a_hundred_characters_are_accepted(admin):
    keywords = [f"{i:02d}" + "k" * 98 for i in range(50)]

    rule = make_rule(admin, categories=[], keywords="\n".join(keywords))

    assert rule.keywords == keywords


def test_a_rule_without_conditions_is_refused(admin):
    errors = refused(
        lambda: settings.create_rule(admin, rule_input(categories=[], keywords="\n  \n"))
    )

    assert errors == {"conditions": settings.NO_CONDITIONS}


def test_updating_a_rule_keeps_its_place_and_audits_before_and_after(admin):
    make_rule(admin, name="First")
    rule = make_rule(admin, name="Second")
    settings.set_rule_active(admin, rule.id, False)

    updated = settings.update_rule(
        admin, rule.id, rule_input(name="Second, renamed", team="msl", categories=["clinical"])
    )

    assert (updated.position, updated.active) == (2, False)
    assert (updated.name, updated.team, updated.categories) == (
        "Second, renamed",
        TeamKey.MSL,
        ["clinical"],
    )
    action, _, details = audit_log("routing_rules")[-1]
    assert action == "routing_rule.updated"
    assert details["before"]["name"] == "Second" and details["after"]["name"] == "Second, renamed"
    assert details["before"]["team"] == "medical_information"


def test_saving_a_rule_unchanged_writes_no_audit_record(admin):
    rule = make_rule(admin)
    before = audit_count()

    settings.update_rule(admin, rule.id, rule_input())

    assert audit_count() == before


def test_an_invalid_update_changes_nothing(admin):
    rule = make_rule(admin)

    refused(lambda: settings.update_rule(admin, rule.id, rule_input(name="", team="nope")))

    db.session.expire_all()
    assert (rule.name, rule.team) == ("Dosing to MI", TeamKey.MEDICAL_INFORMATION)


def test_an_unknown_rule_is_not_found(admin):
    with pytest.raises(NotFound):
        settings.update_rule(admin, 999, rule_input())
    with pytest.raises(NotFound):
        settings.delete_rule(admin, 999)


@pytest.fixture
def three_rules(admin) -> list[RoutingRule]:
    return [make_rule(admin, name=name) for name in ("A", "B", "C")]


def test_moving_a_rule_swaps_it_with_its_neighbour(admin, three_rules):
    a, _, c = three_rules

    settings.move_rule(admin, c.id, direction="up")
    assert order() == [(1, "A"), (2, "C"), (3, "B")]

    settings.move_rule(admin, a.id, direction="down")
    assert order() == [(1, "C"), (2, "A"), (3, "B")]

    action, target_id, details = audit_log("routing_rules")[-1]
    assert (action, target_id) == ("routing_rule.moved", str(a.id))
    assert (details["before"], details["after"]) == (1, 2)


def test_moving_past_either_end_changes_nothing(admin, three_rules):
    a, _, c = three_rules
    before = audit_count()

    settings.move_rule(admin, a.id, direction="up")
    settings.move_rule(admin, c.id, direction="down")

    assert order() == [(1, "A"), (2, "B"), (3, "C")]
    assert audit_count() == before


def test_moving_closes_gaps_in_the_positions(admin, three_rules):
    a, b, c = three_rules
    a.position, b.position, c.position = 5, 10, 20
    db.session.commit()

    settings.move_rule(admin, c.id, direction="up")

    assert order() == [(1, "A"), (2, "C"), (3, "B")]


def test_a_rule_moves_only_up_or_down(admin, three_rules):
    errors = refused(lambda: settings.move_rule(admin, three_rules[0].id, direction="top"))

    assert list(errors) == ["direction"]


def test_disabling_and_enabling_a_rule_is_audited_once_per_change(admin, three_rules):
    rule = three_rules[1]

    settings.set_rule_active(admin, rule.id, False)
    settings.set_rule_active(admin, rule.id, False)
    settings.set_rule_active(admin, rule.id, True)

    assert rule.active is True
    assert [a for a, _, _ in audit_log("routing_rules")][-2:] == [
        "routing_rule.disabled",
        "routing_rule.enabled",
    ]
    assert order() == [(1, "A"), (2, "B"), (3, "C")]


def test_disabled_rules_are_skipped_by_the_engine(admin):
    rule = make_rule(admin, team="msl", categories=["dosing"])
    settings.set_rule_active(admin, rule.id, False)

    decision = settings.preview_routing(admin, text="What dose for adults?", category="dosing")

    assert decision.owner is TeamKey.MEDICAL_INFORMATION
    assert decision.rule_id is None


def test_deleting_a_rule_closes_the_gap_and_the_audit_keeps_what_it_was(admin, three_rules):
    b = three_rules[1]
    b_id = b.id

    settings.delete_rule(admin, b_id)

    assert order() == [(1, "A"), (2, "C")]
    assert db.session.get(RoutingRule, b_id) is None
    action, target_id, details = audit_log("routing_rules")[-1]
    assert (action, target_id) == ("routing_rule.deleted", str(b_id))
    assert details["name"] == "B" and details["categories"] == ["dosing"]
    assert details["team"] == "medical_information" and details["position"] == 2


# --- warnings ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("team", "categories", "expected"),
    [
        ("medical_information", ["dosing"], []),
        ("sales", ["samples"], []),
        ("msl", [], []),
        ("pharmacovigilance", ["adverse_event"], []),
        ("quality", ["quality"], []),
        ("sales", ["dosing"], ["cannot send medical questions", "Medical Information", "never"]),
        ("market_access", ["access", "clinical"], ["'Clinical data / efficacy'", "Market Access"]),
        ("medical_information", ["adverse_event"], ["adverse event reports", "Pharmacovigilance"]),
        ("sales", ["quality"], ["product quality complaints", "to Quality", "never"]),
        ("sales", [], ["cannot send medical questions", "'Dosing and administration'"]),
    ],
)
def test_rules_the_hard_limits_override_carry_a_warning(admin, team, categories, expected):
    rule = make_rule(admin, team=team, categories=categories, keywords="" if categories else "x")

    warnings = " ".join(settings.rule_warnings(rule))

    for fragment in expected:
        assert fragment in warnings
    if not expected:
        assert warnings == ""


def test_a_rule_that_partly_wins_is_not_said_to_never_win(admin):
    rule = make_rule(admin, team="sales", categories=["samples", "dosing"])

    warnings = settings.rule_warnings(rule)

    assert len(warnings) == 1
    assert "never" not in warnings[0]
    assert (
        "This rule cannot send medical questions ('Dosing and administration') to Sales"
        in (warnings[0])
    )


# --- defaults ------------------------------------------------------------------------------------
def test_default_rules_cover_every_category_with_its_default_team(app):
    settings.ensure_default_rules()

    rules = list(db.session.scalars(select(RoutingRule).order_by(RoutingRule.position)))
    assert [r.position for r in rules] == list(range(1, len(Category) + 1))
    assert {r.categories[0]: r.team for r in rules} == routing.DEFAULT_TEAMS
    assert all(len(r.categories) == 1 and r.active for r in rules)
    assert rules[0].name == f"Default: {Category(rules[0].categories[0]).label}"
    assert not any(settings.rule_warnings(r) for r in rules)
    stored = {s.key: (s.amount, s.unit) for s in db.session.scalars(select(SlaPolicy))}
    assert stored == {k: (v.amount, v.unit.value) for k, v in routing.DEFAULT_SLAS.items()}


def test_default_rules_are_idempotent_and_never_undo_an_administrators_work(admin):
    settings.ensure_default_rules()
    settings.ensure_default_rules()
    assert len(order()) == len(Category)

    first = settings.list_rules(admin)[0]
    settings.delete_rule(admin, first.id)
    settings.set_sla(admin, "dosing", amount=5, unit="hours")
    settings.ensure_default_rules()

    assert len(order()) == len(Category) - 1
    assert db.session.get(SlaPolicy, "dosing").amount == 5


def test_default_rules_are_not_added_when_rules_exist(admin):
    make_rule(admin, name="Mine")

    settings.ensure_default_rules()

    assert order() == [(1, "Mine")]
    assert db.session.scalar(select(func.count()).select_from(SlaPolicy)) == len(
        routing.DEFAULT_SLAS
    )


# --- SLAs ----------------------------------------------------------------------------------------
def test_slas_list_every_category_and_urgent_with_the_defaults(admin):
    rows = settings.list_slas(admin)

    assert [r.key for r in rows] == [*(c.value for c in Category), "urgent"]
    assert all(r.is_default for r in rows)
    by_key = {r.key: r for r in rows}
    assert (by_key["adverse_event"].amount, by_key["adverse_event"].unit) == (1, SlaUnit.DAYS)
    assert by_key["urgent"].describe() == "4 business hours"


def test_setting_an_sla_stores_and_audits_it(admin):
    row = settings.set_sla(admin, "dosing", amount=3, unit="days")

    assert (row.amount, row.unit, row.is_default) == (3, SlaUnit.DAYS, False)
    stored = db.session.get(SlaPolicy, "dosing")
    assert (stored.amount, stored.unit) == (3, "days")
    assert audit_log("sla_policies") == [
        (
            "sla.changed",
            "dosing",
            {"before": {"amount": 2, "unit": "days"}, "after": {"amount": 3, "unit": "days"}},
        )
    ]
    assert settings.set_sla(admin, "urgent", amount=2, unit="hours").describe() == (
        "2 business hours"
    )


def test_setting_an_sla_to_its_current_value_writes_no_audit_record(admin):
    settings.set_sla(admin, "dosing", amount=2, unit="days")

    assert audit_log("sla_policies") == []


@pytest.mark.parametrize(
    ("key", "amount", "unit", "fields"),
    [
        ("dosing", 0, "days", {"amount"}),
        ("dosing", 1000, "days", {"amount"}),
        ("dosing", "3", "days", {"amount"}),
        ("dosing", None, "days", {"amount"}),
        ("dosing", True, "days", {"amount"}),
        ("dosing", 3, "weeks", {"unit"}),
        ("gossip", 3, "days", {"key"}),
        ("gossip", -1, "minutes", {"key", "amount", "unit"}),
    ],
)
def test_a_bad_sla_is_refused(admin, key, amount, unit, fields):
    errors = refused(lambda: settings.set_sla(admin, key, amount=amount, unit=unit))

    assert set(errors) == fields
    assert db.session.scalar(select(func.count()).select_from(SlaPolicy)) == 0


@pytest.mark.parametrize("amount", [1, 999])
def test_sla_bounds_are_accepted(admin, amount):
    assert settings.set_sla(admin, "other", amount=amount, unit="hours").amount == amount


# --- holidays ------------------------------------------------------------------------------------
HOLIDAYS = """\
# US holidays 2026
2026-11-26 Thanksgiving
2026-12-25, Christmas Day
2026-01-01
"""


def test_pasted_holidays_are_stored_with_their_names(admin):
    change = settings.replace_holidays(admin, HOLIDAYS)

    assert change.added == [dt.date(2026, 1, 1), dt.date(2026, 11, 26), dt.date(2026, 12, 25)]
    assert [(h.day.isoformat(), h.name) for h in settings.list_holidays(admin)] == [
        ("2026-01-01", ""),
        ("2026-11-26", "Thanksgiving"),
        ("2026-12-25", "Christmas Day"),
    ]
    assert settings.holidays_text(settings.list_holidays(admin)) == (
        "2026-01-01\n2026-11-26 Thanksgiving\n2026-12-25 Christmas Day"
    )


def test_replacing_holidays_audits_what_was_added_removed_and_renamed(admin):
    settings.replace_holidays(admin, HOLIDAYS)

    change = settings.replace_holidays(
        admin, "2026-11-26 Thanksgiving Day\n2026-12-25 Christmas Day\n2026-12-31 New Year's Eve"
    )

    assert change.added == [dt.date(2026, 12, 31)]
    assert change.removed == [dt.date(2026, 1, 1)]
    assert change.renamed == [dt.date(2026, 11, 26)]
    action, _, details = audit_log("holidays")[-1]
    assert action == "holidays.replaced"
    assert details == {
        "added": ["2026-12-31"],
        "removed": ["2026-01-01"],
        "renamed": ["2026-11-26"],
    }
    assert len(audit_log("holidays")) == 2


def test_pasting_the_same_holidays_again_changes_nothing(admin):
    settings.replace_holidays(admin, HOLIDAYS)

    change = settings.replace_holidays(admin, HOLIDAYS)

    assert not change.changed
    assert len(audit_log("holidays")) == 1


def test_an_empty_paste_removes_every_holiday(admin):
    settings.replace_holidays(admin, HOLIDAYS)

    settings.replace_holidays(admin, "")

    assert settings.list_holidays(admin) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2026-12-25 Christmas\nBoxing Day 2026-12-26", "Line 2"),
        ("2026-12-25\n\n2026-02-30 Not a day", "Line 3"),
        ("2026-12-25 " + "x" * 121, "120 characters"),
    ],
)
def test_a_bad_holiday_line_refuses_the_whole_paste(admin, text, fragment):
    settings.replace_holidays(admin, HOLIDAYS)
    before = audit_count()

    errors = refused(lambda: settings.replace_holidays(admin, text))

    assert list(errors) == ["text"]
    assert fragment in errors["text"]
    assert len(settings.list_holidays(admin)) == 3
    assert audit_count() == before


def test_new_holidays_are_what_the_business_calendar_skips(admin):
    from portal.questions import facts

    settings.replace_holidays(admin, "2026-12-25 Christmas")

    assert dt.date(2026, 12, 25) in facts.calendar().holidays
    assert db.session.get(Holiday, dt.date(2026, 12, 25)).name == "Christmas"


# --- label facts ---------------------------------------------------------------------------------
def test_labels_list_every_product_with_its_facts_or_none(admin, cardiovex):
    oncora = make_product(code="ONC", name="Oncora")
    settings.set_label_facts(admin, oncora.id, settings.LabelInput(indications=["lung_cancer"]))

    rows = settings.list_labels(admin)

    assert [(r.product.code, r.label is not None) for r in rows] == [
        ("CVX", False),
        ("ONC", True),
    ]


def test_label_facts_are_stored_and_audited(admin, cardiovex):
    label = settings.set_label_facts(
        admin,
        cardiovex.id,
        settings.LabelInput(
            indications=["hypertension", "heart_failure", "hypertension"],
            min_age=18,
            max_age=None,
            dose_min_mg=5,
            dose_max_mg=20.0,
            populations="  Adults; not in pregnancy. ",
        ),
    )

    assert label.indications == ["heart_failure", "hypertension"]
    assert (label.min_age, label.max_age, label.dose_min_mg, label.dose_max_mg) == (
        18,
        None,
        5.0,
        20.0,
    )
    assert label.populations == "Adults; not in pregnancy."
    action, target_id, details = audit_log("product_labels")[-1]
    assert (action, target_id, details["before"]) == (
        "product_label.changed",
        str(cardiovex.id),
        None,
    )
    assert details["after"]["min_age"] == 18 and details["product"] == "CVX"

    settings.set_label_facts(admin, cardiovex.id, settings.LabelInput(min_age=12))
    _, _, details = audit_log("product_labels")[-1]
    assert details["before"]["min_age"] == 18 and details["after"]["min_age"] == 12
    assert db.session.get(ProductLabel, cardiovex.id).indications == []


def test_label_facts_saved_unchanged_write_no_audit_record(admin, cardiovex):
    data = settings.LabelInput(indications=["asthma"], min_age=12)
    settings.set_label_facts(admin, cardiovex.id, data)

    settings.set_label_facts(admin, cardiovex.id, data)

    assert len(audit_log("product_labels")) == 1


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"indications": ["hypertension", "vampirism"]}, {"indications"}),
        ({"min_age": -1}, {"min_age"}),
        ({"max_age": 121}, {"max_age"}),
        ({"min_age": 18.5}, {"min_age"}),
        ({"min_age": 65, "max_age": 18}, {"max_age"}),
        ({"dose_min_mg": 0}, {"dose_min_mg"}),
        ({"dose_max_mg": -5.0}, {"dose_max_mg"}),
        ({"dose_max_mg": float("nan")}, {"dose_max_mg"}),
        ({"dose_min_mg": 20, "dose_max_mg": 5}, {"dose_max_mg"}),
        ({"populations": "p" * 2001}, {"populations"}),
        (
            {"indications": ["x"], "min_age": 200, "dose_min_mg": -1, "populations": "p" * 2001},
            {"indications", "min_age", "dose_min_mg", "populations"},
        ),
    ],
)
def test_bad_label_facts_are_refused_field_by_field(admin, cardiovex, data, fields):
    errors = refused(
        lambda: settings.set_label_facts(admin, cardiovex.id, settings.LabelInput(**data))
    )

    assert set(errors) == fields
    assert db.session.get(ProductLabel, cardiovex.id) is None


def test_label_bounds_are_accepted(admin, cardiovex):
    label = settings.set_label_facts(
        admin,
        cardiovex.id,
        settings.LabelInput(min_age=0, max_age=120, dose_min_mg=0.5, dose_max_mg=0.5),
    )

    assert (label.min_age, label.max_age, label.dose_min_mg) == (0, 120, 0.5)


def test_label_facts_of_an_unknown_product_are_not_found(admin):
    with pytest.raises(NotFound):
        settings.set_label_facts(admin, 999, settings.LabelInput())


def test_condition_keys_come_from_the_conditions_vocabulary():
    keys = settings.condition_keys()

    assert "hypertension" in keys and keys == sorted(keys)
    assert settings.condition_label("hypertension")


# --- trying a question ---------------------------------------------------------------------------
def test_preview_finds_off_label_intent_against_the_label_and_writes_nothing(admin, cardiovex):
    settings.ensure_default_rules()
    settings.set_label_facts(
        admin, cardiovex.id, settings.LabelInput(indications=["hypertension"], min_age=18)
    )
    before = audit_count()

    decision = settings.preview_routing(
        admin,
        text="Can I use the samples for off-label use in children?",
        category="samples",
        product_code="CVX",
    )

    assert decision.owner is TeamKey.MEDICAL_INFORMATION
    assert decision.off_label is True
    assert decision.ae is False
    assert any("Sales" in r for r in decision.reasons)  # the default rule chose Sales first
    assert any("outside the label" in r for r in decision.reasons)
    assert audit_count() == before


def test_preview_gives_the_engines_decision(admin, cardiovex):
    settings.ensure_default_rules()
    settings.set_label_facts(admin, cardiovex.id, settings.LabelInput(min_age=18))
    question = routing.QuestionFacts(
        category=Category.SAMPLES, text="Samples for use in children, please", product="CVX"
    )
    from portal.questions import facts

    expected = routing.classify(question, routing.HcpFacts(), facts.rules(), facts.labels())

    decision = settings.preview_routing(
        admin, text=question.text, category="samples", product_code="CVX"
    )

    assert decision == expected


def test_preview_shows_a_possible_adverse_event(admin):
    decision = settings.preview_routing(
        admin, text="My patient was hospitalised after the first dose", category="dosing"
    )

    assert decision.ae is True
    assert decision.teams == (TeamKey.MEDICAL_INFORMATION, TeamKey.PHARMACOVIGILANCE)


def test_preview_applies_the_rules_and_the_hcps_country_and_territory(admin):
    territory = make_territory(code="DE", country="DE")
    rule = make_rule(
        admin, name="German MSLs", team="msl", categories=[], territories=[territory.code]
    )

    anywhere = settings.preview_routing(admin, text="Any data on elderly?", category="clinical")
    in_germany = settings.preview_routing(
        admin, text="Any data on elderly?", category="clinical", country="de", territory="DE"
    )

    assert anywhere.owner is TeamKey.MEDICAL_INFORMATION and anywhere.rule_id is None
    assert (in_germany.owner, in_germany.rule_id) == (TeamKey.MSL, rule.id)


def test_preview_can_try_disabled_rules_before_they_are_enabled(admin):
    rule = make_rule(
        admin, name="Compassionate use", team="msl", categories=[], keywords="compassionate use"
    )
    settings.set_rule_active(admin, rule.id, False)
    text = "Is compassionate use possible for my patient?"

    as_is = settings.preview_routing(admin, text=text, category="other")
    with_disabled = settings.preview_routing(
        admin, text=text, category="other", include_disabled=True
    )

    assert as_is.owner is TeamKey.MEDICAL_INFORMATION
    assert (with_disabled.owner, with_disabled.rule_id) == (TeamKey.MSL, rule.id)


def test_preview_input_is_checked_field_by_field(admin):
    errors = refused(
        lambda: settings.preview_routing(
            admin,
            text="  ",
            category="gossip",
            product_code="NOPE",
            country="XX",
            territory="NOWHERE",
        )
    )

    assert set(errors) == {"text", "category", "product", "country", "territory"}
