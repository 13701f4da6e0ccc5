"""Data rights, after review: no trace of the name in mail or colleagues' notifications, only
the person's own notifications rewritten, legal holds withheld from the download, one
definition of safety-linked (meetings that opened a PV case kept), and a download whose number
of queries does not grow with the history."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, func, select

from chat import messages
from chat.models import Conversation
from portal import audit
from portal.accounts.models import Meeting, MeetingMode
from portal.extensions import db
from portal.models import (
    AuditRecord,
    Notification,
    OutboxMail,
    Role,
    Side,
    TeamKey,
    User,
    utcnow,
)
from portal.privacy import collect, erase
from portal.questions.models import EntryKind, QuestionEntry, QuestionStatus
from portal.retention import holds, purge
from portal.retention.models import HoldScope
from portal.safety import links
from portal.safety.models import AttestationSubject, PvCase, SafetyAttestation
from tests.chat.factories import active_conversation, chat_pair, send
from tests.factories import make_hcp, make_user
from tests.portal import helpers
from tests.portal.privacy.seed import seed_history
from tests.portal.questions.factories import ask

NAME = "Rosalind Quibble"


def _calendar(name: str, email: str) -> str:
    """A folded calendar invitation naming the HCP (as outreach's .ics does)."""
    long = f"ATTENDEE;CN={name};ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:{email}"
    folded = long[:75] + "\r\n " + long[75:]
    return f"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Video call: {name} and Sam\r\n{folded}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"  # noqa: E501


def _rows_naming(*texts: str) -> list[OutboxMail]:
    found = []
    for mail in db.session.scalars(select(OutboxMail)):
        blob = " ".join((mail.to, mail.subject, mail.body, mail.attachment or "")).lower()
        blob = blob.replace("\r\n ", "")
        if any(t.lower() in blob for t in texts):
            found.append(mail)
    return found


def test_erasure_leaves_no_name_or_address_in_the_outbox(app):
    history = seed_history(name=NAME)
    hcp = helpers.fresh(history.hcp)
    old_email = hcp.email
    # The chat goes on after its attestation: ending it asks the MSL to attest again.
    waiting = db.session.get_one(Conversation, history.plain_chat)
    send(hcp, waiting, "One more thing about the renal data.")
    # A meeting mail already sent to the rep, and one not yet sent, both naming the HCP.
    db.session.add_all(
        [
            OutboxMail(
                to=history.rep.email,
                subject=f"Meeting booked: Video call with {NAME}, 2 May",
                body=f"Your video call with {NAME} is booked.",
                attachment_name="meeting.ics",
                attachment_type="text/calendar",
                attachment=_calendar(NAME, old_email),
                sent_at=utcnow(),
            ),
            OutboxMail(
                to=history.msl.email,
                subject=f"{NAME} asked for a meeting",
                body=f"Hello,\n\n{NAME} asked for a meeting. Reply to {old_email.upper()}.",
            ),
        ]
    )
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(OutboxMail)) >= 2

    done = erase.erase_person(None, hcp, reason="Request by e-mail")

    assert _rows_naming(NAME, old_email) == []
    attest = db.session.scalars(
        select(OutboxMail).where(
            OutboxMail.to == history.msl.email, OutboxMail.subject.contains("attest for safety")
        )
    ).all()
    assert attest and all(done.pseudonym in m.subject for m in attest)
    assert all(m.sent_at is None for m in attest)  # the task still reaches the MSL
    meeting_mail = db.session.scalars(
        select(OutboxMail).where(OutboxMail.attachment_name == "meeting.ics")
    ).one()
    assert meeting_mail.sent_at is not None and done.pseudonym in meeting_mail.subject
    unfolded = (meeting_mail.attachment or "").replace("\r\n ", "")
    assert f"CN={done.pseudonym};" in unfolded and "mailto:erased-" in unfolded
    assert all(len(line.encode()) <= 75 for line in meeting_mail.attachment.split("\r\n"))
    unsent = db.session.scalars(
        select(OutboxMail).where(OutboxMail.subject.contains("asked for a meeting"))
    ).one()
    assert unsent.sent_at is None and unsent.subject == f"{done.pseudonym} asked for a meeting"
    assert done.kept["mail_pseudonymised"] >= 2
    # The colleague's notification names the pseudonym too.
    titles = db.session.scalars(
        select(Notification.title).where(Notification.user_id == history.msl.id)
    ).all()
    assert any(done.pseudonym in t for t in titles) and not any(NAME in t for t in titles)


def test_only_notifications_about_the_person_are_rewritten(app):
    history = seed_history(name=NAME)
    hcp = helpers.fresh(history.hcp)
    # Someone with a longer name holding the same words, and a namesake with a chat of their own.
    longer = make_hcp(name=f"{NAME}ton")
    msl = helpers.fresh(history.msl)
    namesake = make_hcp(name=NAME, territory=msl.territories[0])
    theirs = active_conversation(namesake, msl)
    db.session.add_all(
        [
            Notification(
                user_id=history.msl.id, kind="meeting_requested",
                title=f"{NAME}ton asked for a meeting", url="/meetings",
            ),
            Notification(
                user_id=history.msl.id, kind="safety_attestation",
                title=f"Your chat with {NAME} ended: attest for safety",
                url=f"/chat/{theirs.id}/attest",
            ),
            Notification(
                user_id=history.msl.id, kind="hcp", title=f"{NAME} updated their profile",
                url=f"/hcps/{namesake.id}",
            ),
            # A colleague who never dealt with the person.
            Notification(
                user_id=make_user(Role.MSL).id, kind="meeting_requested",
                title=f"{NAME} asked for a meeting", url="/meetings",
            ),
            # About the person: a colleague who dealt with them, a link to their chat.
            Notification(
                user_id=history.msl.id, kind="safety_attestation",
                title=f"Your chat with {NAME} ended: attest for safety",
                url=f"/chat/{history.plain_chat}/attest",
            ),
        ]
    )  # fmt: skip
    db.session.commit()

    done = erase.erase_person(None, hcp, reason="Request by e-mail")

    titles = list(db.session.scalars(select(Notification.title).order_by(Notification.id)))
    assert f"{NAME}ton asked for a meeting" in titles
    assert f"Your chat with {NAME} ended: attest for safety" in titles  # the namesake's chat
    assert f"{NAME} updated their profile" in titles
    assert f"{NAME} asked for a meeting" in titles
    assert f"Your chat with {done.pseudonym} ended: attest for safety" in titles
    assert helpers.fresh(longer).name == f"{NAME}ton"


def _staff_record(actor: User, target: User) -> None:
    audit.record(actor, "user.verified", target, decision="verified")
    db.session.commit()


def test_the_download_withholds_legal_holds_and_names_staff_by_role(app):
    history = seed_history()
    hcp = helpers.fresh(history.hcp)
    compliance = make_user(Role.COMPLIANCE, name="Casey Compliance")
    admin = make_user(Role.ADMIN, name="Avery Admin")
    _staff_record(helpers.fresh(history.msl), hcp)
    holds.place_hold(
        compliance, scope=HoldScope.PERSON, reason="Litigation Quibble v Pharma", email=hcp.email
    )
    held = erase.erase_person(admin, helpers.fresh(history.hcp), reason="Asked by letter")
    assert held.held

    data = collect.collect_person(helpers.fresh(history.hcp))

    records = data["audit_trail"]["records"]
    actions = {r["action"] for r in records}
    assert not any(a.startswith("legal_hold.") for a in actions)
    assert "privacy.erasure_held" not in actions
    text = json.dumps(data)
    assert "Litigation Quibble" not in text
    staff = [r for r in records if r["action"] == "user.verified"]
    msl = helpers.fresh(history.msl)
    assert staff and staff[0]["actor"] == f"{msl.name} ({Role.MSL.label})"
    assert msl.email not in json.dumps(records)
    # The records are still there for compliance.
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditRecord)
            .where(AuditRecord.action.in_(("legal_hold.placed", "privacy.erasure_held")))
        )
        == 2
    )


def _meeting(hcp: User, staff: User, topic: str) -> Meeting:
    meeting = Meeting(
        hcp_id=hcp.id, staff_id=staff.id, side=Side.MEDICAL, requested_by_id=hcp.id,
        mode=MeetingMode.PHONE, slots=[], topic=topic,
    )  # fmt: skip
    db.session.add(meeting)
    db.session.flush()
    return meeting


def test_erasure_and_purge_share_what_is_safety_linked(app):
    history = seed_history()
    hcp = helpers.fresh(history.hcp)
    msl = helpers.fresh(history.msl)
    screened = _meeting(hcp, msl, "My patient fainted after the injection")
    plain = _meeting(hcp, msl, "The new study")
    db.session.add(
        PvCase(
            source="meeting", source_ref=f"M-{screened.id:06d}", source_text=screened.topic,
            reporter_id=hcp.id, due_at=utcnow() + dt.timedelta(days=1),
        )
    )  # fmt: skip
    # A closed question Pharmacovigilance owns: safety-linked for the purge, so for erasure.
    owned = ask(hcp, text="A question PV took over.", category="dosing")
    owned.owner_team = TeamKey.PHARMACOVIGILANCE
    owned.status, owned.closed_at = QuestionStatus.CLOSED, utcnow()
    db.session.commit()
    screened_id, plain_id, owned_id = screened.id, plain.id, owned.id

    done = erase.erase_person(None, hcp, reason="Request by e-mail")

    assert db.session.get(Meeting, screened_id) is not None
    assert db.session.get(Meeting, plain_id) is None
    assert done.kept["meetings"] == 1 and done.removed["meetings"] == 1
    from portal.questions.models import Question

    assert db.session.get(Question, owned_id) is not None
    assert purge._question_safety_linked is links.question_safety_linked
    assert purge._conversation_safety_linked is links.conversation_safety_linked


# --- the download's queries ----------------------------------------------------------------------
@contextmanager
def _statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _grow(hcp: User, staff: User, chats: list[Conversation], per_chat: int, questions: int) -> None:
    for chat in chats:
        for i in range(per_chat):
            mine = send(hcp, chat, f"Message {i} with a typo")
            messages.edit_message(hcp, mine["id"], f"Message {i}")
            send(staff, chat, f"Reply {i}")
    for i in range(questions):
        question = ask(hcp, text=f"What is the dose in case {i}?", category="dosing")
        db.session.add(
            QuestionEntry(
                question_id=question.id, author_id=staff.id, kind=EntryKind.REPLY,
                body="<p>On the label.</p>", side=Side.MEDICAL,
            )
        )  # fmt: skip
        db.session.add(
            SafetyAttestation(
                subject=AttestationSubject.QUESTION, question_id=question.id,
                actor_id=staff.id, adverse_event=False,
            )
        )  # fmt: skip
    db.session.commit()


def _count_download(hcp_id: int) -> int:
    db.session.expire_all()
    hcp = db.session.get_one(User, hcp_id)
    with _statements() as seen:
        collect.collect_person(hcp)
    return len(seen)


def test_the_download_does_not_query_per_message_or_question(app):
    hcp, msl, territory = chat_pair(Role.MSL)
    chats = [active_conversation(hcp, msl)]
    for _ in range(2):
        chats.append(active_conversation(hcp, make_user(Role.MSL, territories=[territory])))
    staff = [c.staff for c in chats]
    for chat, colleague in zip(chats, staff, strict=True):
        _grow(hcp, colleague, [chat], per_chat=1, questions=0)
    _grow(hcp, msl, [], per_chat=0, questions=2)
    small = _count_download(hcp.id)

    for chat, colleague in zip(chats, staff, strict=True):
        _grow(hcp, colleague, [chat], per_chat=4, questions=0)  # 30 messages in all
    _grow(hcp, msl, [], per_chat=0, questions=8)  # 10 questions
    large = _count_download(hcp.id)

    data = collect.collect_person(helpers.fresh(hcp))
    assert sum(len(c["messages"]) for c in data["conversations"]) == 30
    assert len(data["questions"]) == 10
    assert large == small
