"""``flask seed-scale``: a large portal on top of the demo data, at a small factor here."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import func, select

from chat.models import ConsentPeriod, Conversation, Message
from content import services as content
from content.models import Material, MaterialEvent, MaterialStatus
from portal import audit, policy, scale
from portal.accounts import contact_rule, preferences
from portal.accounts.models import (
    CallNote,
    Contact,
    ContactChannel,
    ContactKind,
    ContactPreferences,
    MaterialShare,
    Meeting,
    MeetingState,
    PlanNote,
    PreferenceChange,
)
from portal.extensions import db
from portal.models import AuditRecord, HcpProfile, Role, User, Verification, utcnow
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
        select(func.count()).where(
            AuditRecord.action.in_(["question.submit", "question.submit_on_behalf"])
        )
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


def test_seed_scale_adds_a_year_of_the_account_team_as_the_services_would(app):
    before = {}
    demo = run(app, "seed-demo", "--quiet")
    assert demo.exit_code == 0, demo.output
    for model in (Contact, CallNote, MaterialShare, Meeting, PlanNote, PreferenceChange):
        before[model] = count(model)
    result = run(app, "seed-scale", "--factor", str(FACTOR), "--json")
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout.strip().splitlines()[-1])["counts"]
    db.session.expire_all()
    now = utcnow()

    # What the command says it wrote is what the tables gained.
    for model in (Contact, CallNote, MaterialShare, Meeting, PlanNote, PreferenceChange):
        name = model.__tablename__
        assert counts[name] > 0, name
        assert count(model) - before[model] == counts[name], name
    assert counts["meetings"] >= scale.scaled("meetings", FACTOR)

    # Every ledger row names its record, with the same HCP and colleague, on that colleague's
    # side and team, counted exactly when the contact was unsolicited.
    notes = {n.id: n for n in db.session.scalars(select(CallNote))}
    shares = {s.id: s for s in db.session.scalars(select(MaterialShare))}
    meetings = {m.id: m for m in db.session.scalars(select(Meeting))}
    users = {u.id: u for u in db.session.scalars(select(User))}
    by_subject: dict[tuple[str, int], list[Contact]] = {}
    for contact in db.session.scalars(select(Contact)):
        by_subject.setdefault((contact.subject, contact.subject_id), []).append(contact)
        staff, hcp = users[contact.staff_id], users[contact.hcp_id]
        assert contact.side is policy.side_of(staff.role)
        assert contact.team == staff.memberships[0].team.key
        if contact.subject == "call_note":
            note = notes[contact.subject_id]
            assert (note.hcp_id, note.author_id, note.occurred_at) == (
                contact.hcp_id, contact.staff_id, contact.at
            )  # fmt: skip
            assert contact.kind is ContactKind.CALL and contact.channel is note.kind.channel
            assert contact.counted is not note.requested_by_hcp
        elif contact.subject == "material_share":
            share = shares[contact.subject_id]
            assert (share.hcp_id, share.staff_id, share.created_at) == (
                contact.hcp_id, contact.staff_id, contact.at
            )  # fmt: skip
            assert contact.kind is ContactKind.MATERIAL_SHARE and contact.counted
        elif contact.subject == "chat_invitation":  # the demo's (seed-scale invites nobody)
            assert contact.kind is ContactKind.CHAT_INVITATION and contact.counted
        else:
            assert contact.subject == "meeting"
            meeting = meetings[contact.subject_id]
            assert (meeting.hcp_id, meeting.staff_id) == (contact.hcp_id, contact.staff_id)
            if contact.kind is ContactKind.MEETING_PROPOSAL:
                assert contact.counted and not meeting.asked_by_hcp
                assert contact.at == meeting.created_at
            else:
                assert contact.kind is ContactKind.MEETING and not contact.counted
                assert meeting.state is MeetingState.ACCEPTED
                assert contact.at == meeting.decided_at
        # Reps, market access and MSLs contact the verified HCPs of their territories; Medical
        # Information only takes their calls.
        if staff.role is Role.MEDICAL_INFORMATION:
            assert not contact.counted
        else:
            assert policy.can_contact_hcp(staff, hcp), (staff.email, hcp.email)
        assert contact.at <= now
    assert all(len(by_subject[("call_note", note_id)]) == 1 for note_id in notes)
    assert all(len(by_subject[("material_share", share_id)]) == 1 for share_id in shares)
    for meeting in meetings.values():
        kinds = sorted(c.kind for c in by_subject.get(("meeting", meeting.id), []))
        expected = [] if meeting.asked_by_hcp else [ContactKind.MEETING_PROPOSAL]
        if meeting.state is MeetingState.ACCEPTED:
            expected.append(ContactKind.MEETING)
            assert meeting.starts_at is not None
            assert meeting.starts_at.isoformat() in meeting.slots
            assert meeting.decided_at is not None and meeting.decided_at < meeting.starts_at
        elif meeting.state is MeetingState.REQUESTED:
            assert meeting.decided_at is None and meeting.slots
            assert all(slot > now.isoformat() for slot in meeting.slots)  # still answerable
        assert kinds == sorted(expected), meeting.id

    # Shares: what the colleague could share with that HCP; an opened one was viewed since.
    for share in shares.values():
        material = db.session.get(Material, share.material_id)
        assert policy.can_share_material_with(
            users[share.staff_id], material, users[share.hcp_id], now
        )
        if share.opened_at is not None:
            assert share.seen_by_staff_at is not None and share.opened_at >= share.created_at
            assert db.session.scalar(
                select(func.count()).where(
                    MaterialEvent.user_id == share.hcp_id,
                    MaterialEvent.family_id == share.family_id,
                    MaterialEvent.at >= share.created_at,
                )
            )

    # About a contact a month for each covered HCP (the scale HCPs of the demo's territories).
    contacted = db.session.execute(
        select(Contact.hcp_id, func.count())
        .join(User, User.id == Contact.hcp_id)
        .where(User.email.endswith("@scale.example.com"))
        .group_by(Contact.hcp_id)
    ).all()
    assert contacted and 6 <= sum(n for _, n in contacted) / len(contacted) <= 18

    # Preferences: a fifth of the verified HCPs chose theirs, each save recorded, the last one
    # current; every contacted HCP's row counts the claims made on it.
    saved = db.session.scalars(
        select(ContactPreferences)
        .join(User, User.id == ContactPreferences.hcp_id)
        .where(User.email.endswith("@scale.example.com"))
    ).all()
    verified = db.session.scalar(
        select(func.count())
        .select_from(HcpProfile)
        .join(User, User.id == HcpProfile.user_id)
        .where(
            User.email.endswith("@scale.example.com"),
            HcpProfile.verification == Verification.VERIFIED,
        )
    )
    chosen = [p for p in saved if p.chosen]
    assert len(chosen) == round(verified * scale.PREFERENCES_SHARE)
    claims = dict(contacted)
    for row in saved:
        assert row.claims == claims.get(row.hcp_id, 0)
        if row.chosen:
            last = db.session.scalars(
                select(PreferenceChange)
                .where(PreferenceChange.hcp_id == row.hcp_id)
                .order_by(PreferenceChange.at.desc(), PreferenceChange.id.desc())
            ).first()
            assert last is not None and last.state == preferences.state_of(row)
            assert last.actor_id == row.hcp_id and last.at == row.updated_at
            assert ContactChannel.PORTAL.value in row.channels

    # The demo HCP: a heavy record of every kind from both sides, and still the demo's terms:
    # her last change is the demo's, and the rep may share with her now as the tour expects.
    cole, rep = demo_user("hcp"), demo_user("rep")
    for model, column, name in (
        (CallNote, CallNote.hcp_id, "hcp_call_notes"),
        (MaterialShare, MaterialShare.hcp_id, "hcp_shares"),
        (Meeting, Meeting.hcp_id, "hcp_meetings"),
        (PreferenceChange, PreferenceChange.hcp_id, "hcp_preference_changes"),
    ):
        assert db.session.scalar(
            select(func.count()).select_from(model).where(column == cole.id)
        ) >= scale.scaled(name, FACTOR), name
    sides = set(db.session.scalars(select(CallNote.side).where(CallNote.hcp_id == cole.id)))
    assert len(sides) == 2
    # Every colleague who reaches out to her plans the next interaction.
    planners = set(db.session.scalars(select(PlanNote.author_id).where(PlanNote.hcp_id == cole.id)))
    touching = set(
        db.session.scalars(
            select(Contact.staff_id)
            .join(User, User.id == Contact.staff_id)
            .where(Contact.hcp_id == cole.id, User.role != Role.MEDICAL_INFORMATION)
        )
    )
    assert touching and touching <= planners
    current = db.session.get(ContactPreferences, cole.id)
    assert current is not None and current.chosen
    last = db.session.scalars(
        select(PreferenceChange)
        .where(PreferenceChange.hcp_id == cole.id)
        .order_by(PreferenceChange.at.desc())
    ).first()
    assert last is not None and last.state == preferences.state_of(current)
    assert contact_rule.check(rep, cole, ContactChannel.PORTAL).allowed


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
