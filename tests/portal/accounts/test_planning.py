"""Pre-call planning: interests, open items behind the firewall, the last contacts, suggested
materials under both halves of the share rule, and the plan note (save, refuse, audit, who reads
whose)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask, render_template
from sqlalchemy import event, func, select

from content.models import Classification, EventKind, Material, MaterialEvent, MaterialState
from portal import policy
from portal.accounts import contact_rule, planning, preferences
from portal.accounts.models import ContactChannel, ContactKind, PlanNote
from portal.errors import InvalidInput, NotFound, PermissionDenied
from portal.extensions import db
from portal.models import AuditRecord, Role, User, utcnow
from portal.questions import settings as routing_settings
from tests.conftest import login
from tests.content.factories import make_material
from tests.factories import make_hcp, make_product, make_territory, make_user
from tests.portal.questions.factories import ask

DAY = dt.timedelta(days=1)
MEDICAL_TEXT = "Can I give it off label to a pregnant patient with renal failure?"
COMMERCIAL_TEXT = "Could I get samples for my clinic next month?"


@pytest.fixture
def world(app: Flask) -> dict[str, Any]:
    """A cardiologist in a territory covered by two reps, market access and an MSL (all on
    product ``cardio``; the MSL also on ``onco``), the company-wide medical and compliance
    roles, and a rep of another territory."""
    routing_settings.ensure_default_rules()
    territory, elsewhere = make_territory(), make_territory()
    cardio = make_product(name="Cardiozan", therapeutic_area="Cardiology")
    onco = make_product(name="Oncozan", therapeutic_area="Oncology")
    hcp = make_hcp(territory=territory, name="Dr. Cole", specialty="Cardiology")
    people: dict[str, Any] = {
        "hcp": hcp,
        "cardio": cardio,
        "onco": onco,
        "rep": make_user(Role.REP, territories=[territory], products=[cardio], name="Jordan Lee"),
        "rep2": make_user(Role.REP, territories=[territory], products=[cardio], name="Sam Park"),
        "market_access": make_user(Role.MARKET_ACCESS, territories=[territory], products=[cardio]),
        "msl": make_user(
            Role.MSL, territories=[territory], products=[cardio, onco], name="Morgan Reyes"
        ),
        "outsider": make_user(Role.REP, territories=[elsewhere], products=[cardio]),
        "mi": make_user(Role.MEDICAL_INFORMATION),
        "pv": make_user(Role.PHARMACOVIGILANCE),
        "quality": make_user(Role.QUALITY),
        "compliance": make_user(Role.COMPLIANCE),
        "admin": make_user(Role.ADMIN),
    }
    return people


def material(product: Any, **overrides: Any) -> Material:
    return make_material(direct=True, product=product, **overrides)


def opened(hcp: User, item: Material, at: dt.datetime, times: int = 1) -> None:
    for _ in range(times):
        db.session.add(
            MaterialEvent(
                material_id=item.id, family_id=item.family_id, user_id=hcp.id,
                kind=EventKind.VIEW, at=at,
            )
        )  # fmt: skip
    db.session.commit()


def titles(materials: list[Material] | None) -> list[str]:
    assert materials is not None
    return [m.title for m in materials]


def render(plan: planning.Plan, hcp: User, viewer: User) -> str:
    with db.session.no_autoflush:
        return render_template("accounts/_planning.html", plan=plan, hcp=hcp, current_user=viewer)


@pytest.fixture
def page_context(app: Flask) -> Any:
    with app.test_request_context("/hcps/1"):
        yield


# --- interests -----------------------------------------------------------------------------------
def test_interests_are_the_topics_chosen_and_the_materials_opened_lately(world):
    hcp, rep, cardio = world["hcp"], world["rep"], world["cardio"]
    preferences.save(
        hcp,
        preferences.PreferencesInput(
            channels=["portal"], product_ids=[cardio.id], areas=["Oncology"]
        ),
    )
    now = utcnow()
    guide = material(cardio, title="Dosing guide")
    old = material(cardio, title="Old leaflet")
    opened(hcp, guide, now - 2 * DAY, times=3)
    opened(hcp, old, now - 200 * DAY)  # not recent
    interests = planning.plan_for(rep, hcp, now=now).interests
    assert interests.products == ["Cardiozan"]
    assert interests.areas == ["Oncology"]
    [item] = interests.opened
    assert (item.material.title, item.times) == ("Dosing guide", 3)
    assert abs(item.last_at - (now - 2 * DAY)) < dt.timedelta(seconds=1)


def test_a_rep_does_not_learn_which_medical_materials_the_hcp_read(world):
    hcp, cardio = world["hcp"], world["cardio"]
    science = material(cardio, title="Trial results", classification=Classification.MEDICAL.value)
    promo = material(cardio, title="Product brochure")
    opened(hcp, science, utcnow() - DAY)
    opened(hcp, promo, utcnow() - DAY)
    as_rep = [o.material.title for o in planning.plan_for(world["rep"], hcp).interests.opened]
    as_msl = [o.material.title for o in planning.plan_for(world["msl"], hcp).interests.opened]
    assert as_rep == ["Product brochure"]
    assert sorted(as_msl) == ["Product brochure", "Trial results"]


def test_opened_materials_are_bounded_and_newest_first(world):
    hcp, cardio = world["hcp"], world["cardio"]
    now = utcnow()
    for n in range(planning.OPENED_LIMIT + 3):
        opened(hcp, material(cardio, title=f"Piece {n}"), now - (n + 1) * DAY)
    seen = [o.material.title for o in planning.plan_for(world["rep"], hcp).interests.opened]
    assert seen == [f"Piece {n}" for n in range(planning.OPENED_LIMIT)]


# --- open items ----------------------------------------------------------------------------------
def test_open_items_hide_a_medical_questions_text_from_a_rep(world, page_context):
    hcp, rep = world["hcp"], world["rep"]
    medical = ask(hcp, category="off_label", text=MEDICAL_TEXT)
    commercial = ask(hcp, category="samples", text=COMMERCIAL_TEXT)
    plan = planning.plan_for(rep, hcp)
    items = {item.question_id: item for item in plan.open_items}
    assert plan.open_total == 2
    hidden = items[medical.id]
    assert not hidden.readable
    assert (hidden.text, hidden.category, hidden.reference, hidden.due_at) == (None,) * 4
    assert hidden.team and hidden.status and hidden.asked_at
    shown = items[commercial.id]
    assert shown.readable and shown.text == COMMERCIAL_TEXT and shown.reference
    html = render(plan, hcp, rep)
    assert MEDICAL_TEXT not in html and medical.reference not in html
    assert "Use outside the label" not in html  # not even the category
    assert COMMERCIAL_TEXT in html


@pytest.mark.parametrize("persona", ["msl", "mi", "compliance"])
def test_medical_roles_and_compliance_read_every_open_question(world, persona, page_context):
    hcp = world["hcp"]
    ask(hcp, category="off_label", text=MEDICAL_TEXT)
    plan = planning.plan_for(world[persona], hcp)
    [item] = plan.open_items
    assert item.readable and item.text == MEDICAL_TEXT
    assert MEDICAL_TEXT in render(plan, hcp, world[persona])


def test_answered_questions_are_not_open_items(world):
    hcp = world["hcp"]
    question = ask(hcp, category="samples", text=COMMERCIAL_TEXT)
    question.status = type(question.status)("answered")
    db.session.commit()
    plan = planning.plan_for(world["rep"], hcp)
    assert (plan.open_items, plan.open_total) == ([], 0)


# --- last contacts -------------------------------------------------------------------------------
def test_last_contacts_are_the_five_latest_with_the_other_side_as_team_only(world):
    hcp, rep, msl = world["hcp"], world["rep"], world["msl"]
    now = utcnow()
    for n in range(7):
        contact_rule.claim(
            msl if n == 0 else rep, hcp, ContactChannel.VISIT, kind=ContactKind.CALL,
            subject="test", subject_id=None, at=now - (n + 1) * dt.timedelta(hours=1),
            solicited=True,
        )  # fmt: skip
    db.session.commit()
    touches = planning.plan_for(world["market_access"], hcp, now=now).last_contacts
    assert len(touches) == planning.TOUCHES_LIMIT
    assert touches[0].staff_name is None and touches[0].team == "MSL team"
    assert {t.staff_name for t in touches[1:]} == {"Jordan Lee"}


# --- suggestions ---------------------------------------------------------------------------------
def test_suggestions_obey_both_halves_of_the_share_rule(world):
    hcp, rep, msl, cardio, onco = (
        world["hcp"], world["rep"], world["msl"], world["cardio"], world["onco"]
    )  # fmt: skip
    material(cardio, title="Promo for cardiologists", specialties=["Cardiology"])
    material(cardio, title="Science", classification=Classification.MEDICAL.value)
    material(cardio, title="For oncologists", specialties=["Oncology"])  # off-audience
    material(cardio, title="For Germany", countries=["DE"])  # off-audience (country)
    material(onco, title="Other product promo")  # the rep does not cover it
    material(cardio, title="Expired", status=MaterialState.EXPIRED)
    material(cardio, title="Draft", status=MaterialState.DRAFT)
    seen = material(cardio, title="Already read")
    opened(hcp, seen, utcnow() - 100 * DAY)  # long ago: still seen
    as_rep = planning.plan_for(rep, hcp).suggestions
    as_msl = planning.plan_for(msl, hcp).suggestions
    assert sorted(titles(as_rep)) == ["Promo for cardiologists"]
    assert sorted(titles(as_msl)) == ["Other product promo", "Promo for cardiologists", "Science"]
    now = utcnow()
    for staff, suggested in ((rep, as_rep), (msl, as_msl)):
        assert suggested, "the agreement below must not be 'nothing is suggested'"
        for item in suggested or []:
            assert policy.can_share_material_with(staff, item, hcp, now)


def test_a_medical_material_is_never_suggested_to_the_commercial_side(world):
    hcp, cardio = world["hcp"], world["cardio"]
    for n in range(3):
        material(cardio, title=f"Science {n}", classification=Classification.MEDICAL.value)
    for persona in ("rep", "rep2", "market_access"):
        assert planning.plan_for(world[persona], hcp).suggestions == []


def test_suggestions_prefer_the_hcps_topics_and_stop_at_five(world):
    hcp, msl, cardio, onco = world["hcp"], world["msl"], world["cardio"], world["onco"]
    earlier = utcnow() - 20 * DAY
    material(onco, title="Onco (chosen, older)", effective_at=earlier)
    for n in range(6):
        material(cardio, title=f"Cardio {n}")
    preferences.save(hcp, preferences.PreferencesInput(channels=["portal"], product_ids=[onco.id]))
    suggested = titles(planning.plan_for(msl, hcp).suggestions)
    assert len(suggested) == planning.SUGGESTIONS_LIMIT
    assert suggested[0] == "Onco (chosen, older)"


def test_one_family_is_suggested_once(world):
    hcp, rep, cardio = world["hcp"], world["rep"], world["cardio"]
    original = material(cardio, title="Leaflet")
    twin = material(cardio, title="Leaflet v2")
    twin.family_id = original.family_id
    db.session.commit()
    assert len(planning.plan_for(rep, hcp).suggestions or []) == 1


@pytest.mark.parametrize("persona", ["mi", "pv", "quality", "compliance"])
def test_viewers_who_do_not_contact_hcps_get_no_suggestions(world, persona, page_context):
    hcp = world["hcp"]
    material(world["cardio"], title="Promo")
    plan = planning.plan_for(world[persona], hcp)
    assert plan.suggestions is None
    assert 'data-testid="plan-suggestions"' not in render(plan, hcp, world[persona])


def test_an_unverified_hcp_gets_no_suggestions(world):
    pending = make_hcp(
        territory=world["hcp"].hcp_profile.territory,
        verification=type(world["hcp"].hcp_profile.verification)("pending"),
    )
    material(world["cardio"], title="Promo")
    assert planning.plan_for(world["rep"], pending).suggestions is None


# --- plan notes ----------------------------------------------------------------------------------
def plan_audits() -> list[AuditRecord]:
    return list(
        db.session.scalars(
            select(AuditRecord)
            .where(AuditRecord.action == "hcp.plan_saved")
            .order_by(AuditRecord.id)
        )
    )


def note_count() -> int:
    return int(db.session.scalar(select(func.count()).select_from(PlanNote)) or 0)


@pytest.mark.parametrize("persona", ["rep", "market_access", "msl", "mi"])
def test_those_who_record_interactions_save_a_plan(world, persona):
    hcp, author = world["hcp"], world[persona]
    note = planning.save_plan_note(author, hcp.id, "  Bring the new dosing guide.  ")
    assert (note.text, note.author_id, note.hcp_id) == (
        "Bring the new dosing guide.",
        author.id,
        hcp.id,
    )
    assert note.side is policy.side_of(author.role)
    [record] = plan_audits()
    assert record.actor_id == author.id
    assert (record.target_type, record.target_id) == ("users", str(hcp.id))
    assert record.details == {"hcp": hcp.id, "length": len("Bring the new dosing guide.")}
    assert "dosing" not in str(record.details)


def test_saving_again_replaces_the_plan_and_audits_each_save(world):
    hcp, rep = world["hcp"], world["rep"]
    planning.save_plan_note(rep, hcp.id, "First idea")
    planning.save_plan_note(rep, hcp.id, "Second idea")
    assert note_count() == 1
    assert db.session.get(PlanNote, (hcp.id, rep.id)).text == "Second idea"
    assert [r.details["length"] for r in plan_audits()] == [10, 11]


@pytest.mark.parametrize(
    ("persona", "error"),
    [
        ("compliance", PermissionDenied),
        ("pv", PermissionDenied),
        ("quality", PermissionDenied),
        ("outsider", NotFound),
        ("admin", NotFound),
    ],
)
def test_others_may_not_write_a_plan(world, persona, error):
    with pytest.raises(error):
        planning.save_plan_note(world[persona], world["hcp"].id, "A plan")
    assert note_count() == 0 and plan_audits() == []


@pytest.mark.parametrize("hcp_id", [0, -1, 2**31, 987654])
def test_no_such_hcp_is_not_found(world, hcp_id):
    with pytest.raises(NotFound):
        planning.save_plan_note(world["rep"], hcp_id, "A plan")


def test_a_staff_members_id_is_not_an_hcp(world):
    with pytest.raises(NotFound):
        planning.save_plan_note(world["rep"], world["rep2"].id, "A plan")


def test_a_plan_is_at_most_4000_characters(world):
    hcp, rep = world["hcp"], world["rep"]
    planning.save_plan_note(rep, hcp.id, "x" * planning.PLAN_NOTE_MAX)
    with pytest.raises(InvalidInput) as refused:
        planning.save_plan_note(rep, hcp.id, "y" * (planning.PLAN_NOTE_MAX + 1))
    assert refused.value.errors and "text" in refused.value.errors
    assert db.session.get(PlanNote, (hcp.id, rep.id)).text == "x" * planning.PLAN_NOTE_MAX
    assert len(plan_audits()) == 1


def test_the_other_sides_plan_is_invisible_to_a_rep(world, page_context):
    hcp, rep, rep2, msl = world["hcp"], world["rep"], world["rep2"], world["msl"]
    planning.save_plan_note(msl, hcp.id, "Discuss the off-label trial data")
    planning.save_plan_note(rep2, hcp.id, "Drop off samples")
    planning.save_plan_note(rep, hcp.id, "Lunch meeting")
    as_rep = planning.plan_for(rep, hcp)
    assert as_rep.my_note is not None and as_rep.my_note.text == "Lunch meeting"
    assert [n.text for n in as_rep.colleague_notes] == ["Drop off samples"]
    html = render(as_rep, hcp, rep)
    assert "off-label trial" not in html and "Morgan Reyes" not in html
    assert "Drop off samples" in html and 'data-testid="plan-form"' in html
    # Medical may read the commercial side.
    as_msl = planning.plan_for(msl, hcp)
    assert sorted(n.text for n in as_msl.colleague_notes) == ["Drop off samples", "Lunch meeting"]


def test_compliance_reads_every_plan_and_gets_no_form(world, page_context):
    hcp, compliance = world["hcp"], world["compliance"]
    planning.save_plan_note(world["msl"], hcp.id, "Medical plan")
    planning.save_plan_note(world["rep"], hcp.id, "Commercial plan")
    plan = planning.plan_for(compliance, hcp)
    assert plan.read_only and not plan.can_edit_note and plan.my_note is None
    assert sorted(n.text for n in plan.colleague_notes) == ["Commercial plan", "Medical plan"]
    html = render(plan, hcp, compliance)
    assert 'data-testid="plan-form"' not in html
    assert "Medical plan" in html and "Commercial plan" in html


def test_the_plan_renders_everything_it_holds(world, page_context):
    hcp, rep, cardio = world["hcp"], world["rep"], world["cardio"]
    preferences.save(
        hcp, preferences.PreferencesInput(channels=["portal"], product_ids=[cardio.id])
    )
    opened(hcp, material(cardio, title="Opened brochure"), utcnow() - DAY, times=2)
    material(cardio, title="Fresh brochure")
    contact_rule.claim(
        world["msl"], hcp, ContactChannel.VISIT, kind=ContactKind.CALL, subject="test",
        subject_id=None, at=utcnow() - DAY, solicited=True,
    )  # fmt: skip
    db.session.commit()
    html = render(planning.plan_for(rep, hcp), hcp, rep)
    for expected in ("Cardiozan", "Opened brochure", "2 times", "Fresh brochure", "MSL team"):
        assert expected in html, expected
    assert "Morgan Reyes" not in html


# --- the form ------------------------------------------------------------------------------------
def test_saving_the_plan_through_the_page(client, world):
    hcp, rep = world["hcp"], world["rep"]
    login(client, rep.email)
    response = client.post(f"/hcps/{hcp.id}/plan", data={"text": "Bring samples"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/hcps/{hcp.id}#plan")
    with client.session_transaction() as session:
        assert [c for c, _m in session["_flashes"]] == ["success"]
    assert db.session.get(PlanNote, (hcp.id, rep.id)).text == "Bring samples"


def test_a_too_long_plan_is_refused_with_a_message(client, world):
    hcp, rep = world["hcp"], world["rep"]
    login(client, rep.email)
    response = client.post(f"/hcps/{hcp.id}/plan", data={"text": "z" * 4001})
    assert response.status_code == 302
    with client.session_transaction() as session:
        [(category, message)] = session["_flashes"]
    assert category == "danger" and "4,000" in message
    assert note_count() == 0


@pytest.mark.parametrize(("persona", "status"), [("compliance", 302), ("outsider", 404)])
def test_the_page_refuses_those_who_may_not_plan(client, world, persona, status):
    login(client, world[persona].email)
    response = client.post(f"/hcps/{world['hcp'].id}/plan", data={"text": "A plan"})
    assert response.status_code == status
    assert note_count() == 0


def test_the_hcp_page_carries_the_plan(client, world):
    hcp, rep = world["hcp"], world["rep"]
    planning.save_plan_note(rep, hcp.id, "Ask about the registry")
    planning.save_plan_note(world["msl"], hcp.id, "Medical side plan")
    login(client, rep.email)
    response = client.get(f"/hcps/{hcp.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-testid="planning"' in html and 'data-testid="plan-form"' in html
    assert "Ask about the registry" in html and "Medical side plan" not in html


def test_many_open_questions_are_counted_and_a_few_shown(world):
    hcp = world["hcp"]
    for _ in range(planning.OPEN_ITEMS_LIMIT + 2):
        ask(hcp, category="samples", text=COMMERCIAL_TEXT)
    plan = planning.plan_for(world["rep"], hcp)
    assert len(plan.open_items) == planning.OPEN_ITEMS_LIMIT
    assert plan.open_total == planning.OPEN_ITEMS_LIMIT + 2


# --- cost ----------------------------------------------------------------------------------------
LAST: list[str] = []


def _plan_statements(app: Flask, viewer: User, hcp: User) -> int:
    seen: list[str] = []

    def count(*_args: Any) -> None:
        seen.append(" ".join(str(_args[2]).split())[:110])

    db.session.expire_all()
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        planning.plan_for(viewer, hcp)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    LAST[:] = seen
    return len(seen)


@pytest.mark.parametrize("persona", ["rep", "msl", "compliance"])
def test_a_plan_costs_the_same_statements_however_much_the_hcp_did(app, world, persona):
    hcp, viewer, cardio = world["hcp"], world[persona], world["cardio"]
    preferences.save(
        hcp, preferences.PreferencesInput(channels=["portal"], product_ids=[cardio.id])
    )
    ask(hcp, category="samples", text=COMMERCIAL_TEXT)
    opened(hcp, material(cardio), utcnow() - DAY)
    planning.save_plan_note(world["rep"], hcp.id, "A plan")
    few = _plan_statements(app, viewer, hcp)
    now = utcnow()
    for n in range(8):
        ask(hcp, category="off_label" if n % 2 else "samples", text=MEDICAL_TEXT)
        opened(hcp, material(cardio), now - (n + 1) * DAY, times=3)
        material(cardio, classification=Classification.MEDICAL.value if n % 2 else "promotional")
        contact_rule.claim(
            world["rep"] if n % 2 else world["msl"], hcp, ContactChannel.VISIT,
            kind=ContactKind.CALL, subject="test", subject_id=None, at=now - n * DAY,
            solicited=True,
        )  # fmt: skip
    for colleague in ("rep2", "market_access", "msl", "mi"):
        planning.save_plan_note(world[colleague], hcp.id, f"{colleague}'s plan")
    db.session.commit()
    many = _plan_statements(app, viewer, hcp)
    # About 19, five of which re-read the viewer, the HCP and their territories (expired above;
    # a request has them already): what matters is that it does not grow with the record.
    assert many == few and many <= 20, "\n".join(LAST)
