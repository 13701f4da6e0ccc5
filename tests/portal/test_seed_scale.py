"""``flask seed-scale``: a large portal on top of the demo data, at a small factor here."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import func, select

from chat.models import ConsentPeriod, Conversation, Message
from content import services as content
from content.models import Material, MaterialEvent, MaterialStatus
from portal import audit, scale
from portal.extensions import db
from portal.models import AuditRecord, HcpProfile, User, utcnow
from portal.npi import is_valid_npi
from portal.questions import intake
from portal.questions.models import Question
from portal.safety.models import PvCase

FACTOR = 0.002


def run(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def seeded(app: Any) -> dict[str, Any]:
    demo = run(app, "seed-demo", "--quiet")
    assert demo.exit_code == 0, demo.output
    result = run(app, "seed-scale", "--factor", str(FACTOR), "--json")
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    db.session.expire_all()
    return summary


def demo_user(who: str) -> User:
    user = db.session.scalar(select(User).where(User.email == f"{who}@example.com"))
    assert user is not None
    return user


def test_seed_scale_adds_a_scaled_portal_around_the_demo_logins(app):
    summary = seeded(app)

    counts = summary["counts"]
    assert summary["seconds"] > 0
    assert counts["hcp_profiles"] == scale.scaled("hcps", FACTOR) == 100
    assert counts["materials"] == scale.scaled("materials", FACTOR) == 200
    assert counts["questions"] == scale.scaled("questions", FACTOR) == 400
    assert counts["chat_messages"] >= scale.scaled("messages", FACTOR) == 4000
    assert counts["material_events"] == scale.scaled("material_events", FACTOR)
    assert counts["pv_cases"] > 0 and counts["audit_records"] > counts["questions"]
    # What the command says it wrote is what the database holds (beyond the demo's own rows).
    scale_hcps = (
        select(HcpProfile)
        .join(User, User.id == HcpProfile.user_id)
        .where(User.email.endswith("@scale.example.com"))
    )
    assert len(db.session.scalars(scale_hcps).all()) == counts["hcp_profiles"]
    assert count(Material) >= counts["materials"] and count(PvCase) >= counts["pv_cases"]

    # Every US HCP has a valid NPI; e-mails and NPIs are unique (the database enforces it too).
    npis = [p.npi for p in db.session.scalars(scale_hcps) if p.country == "US"]
    assert npis and all(is_valid_npi(n) for n in npis)
    assert len(set(npis)) == len(npis)

    # The hash chain still verifies after the bulk load, and holds the loaded history.
    verified = audit.verify()
    assert verified.ok, verified
    assert verified.checked == count(AuditRecord)
    assert db.session.scalar(
        select(func.count()).where(AuditRecord.action == "question.submit")
    ) == count(Question)  # every question, the demo's and the loaded ones, has its record

    # Chats: each conversation numbers its messages 1..last_seq without a gap, under consent.
    hcp = demo_user("hcp")
    for conversation in db.session.scalars(select(Conversation)).all():
        seqs = db.session.scalars(
            select(Message.seq)
            .where(Message.conversation_id == conversation.id)
            .order_by(Message.seq)
        ).all()
        assert list(seqs) == list(range(1, conversation.last_seq + 1)), conversation.id
        assert not seqs or db.session.scalar(
            select(func.count()).where(ConsentPeriod.conversation_id == conversation.id)
        )  # nobody wrote in a chat the HCP had not agreed to
    demo_chats = db.session.scalars(select(Conversation).where(Conversation.hcp_id == hcp.id))
    assert all(c.last_seq > scale.scaled("hcp_messages", FACTOR) for c in demo_chats)
    times = db.session.scalars(
        select(Message.sent_at).join(Conversation).where(Conversation.hcp_id == hcp.id)
        .order_by(Message.conversation_id, Message.seq)
    ).all()  # fmt: skip
    assert max(times) <= utcnow()

    # The demo HCP sees their own questions, a year of views, and scale materials in a search.
    mine = intake.my_questions(hcp)
    assert len(mine) >= scale.scaled("hcp_questions", FACTOR)
    assert db.session.scalar(
        select(func.count()).where(MaterialEvent.user_id == hcp.id)
    ) >= scale.scaled("hcp_events", FACTOR)
    now = utcnow()
    live = db.session.scalars(
        select(Material).where(
            Material.approval_code.startswith("SC2026-"),
            Material.status == MaterialStatus.APPROVED,
            Material.effective_at <= now,
            Material.expires_at > now,
            Material.audience_professions == "",
            Material.audience_specialties == "",
            Material.audience_countries == "",
        )
    ).all()
    assert live
    word = max(re.findall(r"[a-z]{6,}", live[-1].title.lower()), key=len)
    page = content.search(hcp, word, content.Filters())
    assert any(item.material.approval_code.startswith("SC2026-") for item in page.items), word


def test_seed_scale_refuses_a_second_run_and_writes_nothing(app):
    seeded(app)
    before = (count(User), count(Question), count(Message), count(AuditRecord))

    result = run(app, "seed-scale", "--factor", str(FACTOR))

    assert result.exit_code == 1
    assert "already holds the scale data" in result.output
    assert (count(User), count(Question), count(Message), count(AuditRecord)) == before


def test_seed_scale_refuses_a_database_without_the_demo(app):
    result = run(app, "seed-scale", "--factor", str(FACTOR))

    assert result.exit_code == 1
    assert "seed-demo" in result.output
    assert count(User) == 0 and count(Material) == 0


def test_seed_scale_refuses_a_factor_that_is_not_positive(app):
    result = run(app, "seed-scale", "--factor", "0")

    assert result.exit_code == 2
    assert "--factor" in result.output
