"""The services publish their events in the transaction of the change, to the subscriptions
whose scopes may know of them, with ids, types and times only."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from sqlalchemy import select

from portal.extensions import db
from portal.models import Role
from portal.questions.models import Question
from portal.unit_of_work import unit_of_work
from portal.webhooks.models import WebhookDelivery
from tests.chat.factories import active_conversation
from tests.factories import make_hcp, make_territory, make_user
from tests.portal.questions.factories import ask
from tests.portal.safety.factories import open_case
from tests.portal.webhooks.conftest import subscribe

pytestmark = pytest.mark.app_config(WEBHOOK_ALLOW_PRIVATE=True)

ALL_EVENTS = (
    "question.created", "question.answered", "consent.given", "consent.withdrawn",
    "pv_case.opened", "material.withdrawn",
)  # fmt: skip


def received() -> dict[str, list[str]]:
    """Each subscription's (by name) event types, in order."""
    db.session.expire_all()
    rows = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
    by_name: dict[str, list[str]] = {}
    for row in rows:
        by_name.setdefault(row.subscription.name, []).append(row.event_type.value)
    return by_name


def test_each_subscription_receives_only_what_its_scopes_may_read(app: Flask, admin):
    url = "http://127.0.0.1:9/hook"
    for name, scopes in [
        ("commercial", ["read:commercial"]),
        ("medical", ["read:medical"]),
        ("pv", ["read:pv"]),
        ("interactions", ["write:interactions"]),
    ]:
        subscribe(admin, url, events=ALL_EVENTS, scopes=scopes, name=name)
    territory = make_territory()
    hcp = make_hcp(territory=territory)
    rep = make_user(Role.REP, territories=[territory])

    ask(hcp, category="access", text="Is the product covered by my patients' plans?")
    ask(hcp, category="dosing", text="What is the dose in renal impairment?")
    open_case(reporter=hcp)
    active_conversation(hcp, rep)

    assert received() == {
        "commercial": ["question.created", "consent.given"],
        "medical": ["question.created", "consent.given"],
        "pv": ["pv_case.opened"],
    }
    medical_question = db.session.scalar(select(Question).where(Question.category == "dosing"))
    [medical] = db.session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.event_type == "question.created",
            WebhookDelivery.payload["question_id"].as_integer() == medical_question.id,
        )
    ).all()
    assert medical.subscription.name == "medical"


def test_a_chat_with_a_medical_colleague_reaches_medical_subscriptions_only(app: Flask, admin):
    url = "http://127.0.0.1:9/hook"
    subscribe(admin, url, events=ALL_EVENTS, scopes=["read:commercial"], name="commercial")
    subscribe(admin, url, events=ALL_EVENTS, scopes=["read:medical"], name="medical")
    territory = make_territory()
    hcp = make_hcp(territory=territory)
    msl = make_user(Role.MSL, territories=[territory])

    active_conversation(hcp, msl)

    assert received() == {"medical": ["consent.given"]}


def test_payloads_carry_ids_types_and_times_never_words(app: Flask, admin):
    subscribe(admin, "http://127.0.0.1:9/hook", events=ALL_EVENTS, scopes=["read:medical"])
    hcp = make_hcp()
    question = ask(hcp, category="dosing", text="Secret words about my patient Jane Doe.")

    [delivery] = db.session.scalars(select(WebhookDelivery)).all()
    assert delivery.payload == {
        "question_id": question.id,
        "reference": question.reference,
        "category": "dosing",
        "created_at": question.created_at.isoformat().replace("+00:00", "Z"),
    }
    assert "Jane" not in json.dumps(delivery.payload)


def test_an_event_whose_change_rolled_back_queues_no_delivery(app: Flask, admin):
    subscribe(admin, "http://127.0.0.1:9/hook", events=ALL_EVENTS, scopes=["read:medical"])
    hcp = make_hcp()

    with pytest.raises(RuntimeError), unit_of_work():
        ask(hcp, category="dosing")
        raise RuntimeError("the action failed after the question was filed")

    assert db.session.scalars(select(Question)).all() == []
    assert db.session.scalars(select(WebhookDelivery)).all() == []


def test_consent_withdrawal_and_pv_case_are_published(app: Flask, admin):
    from chat import consent

    subscribe(
        admin, "http://127.0.0.1:9/hook", events=ALL_EVENTS, scopes=["read:medical", "read:pv"]
    )
    territory = make_territory()
    hcp = make_hcp(territory=territory)
    msl = make_user(Role.MSL, territories=[territory])
    conversation = active_conversation(hcp, msl)
    consent.end_chat(hcp, conversation.id)
    case = open_case(reporter=hcp)

    assert received() == {"CRM": ["consent.given", "consent.withdrawn", "pv_case.opened"]}
    withdrawal, opened = db.session.scalars(
        select(WebhookDelivery).order_by(WebhookDelivery.id).offset(1)
    ).all()
    assert {k: v for k, v in withdrawal.payload.items() if k != "withdrawn_at"} == {
        "conversation_id": conversation.id, "hcp_id": hcp.id, "staff_id": msl.id,
        "via": "conversation",
    }  # fmt: skip
    assert opened.payload["case_id"] == case.id
    assert opened.payload["reference"] == case.reference
