"""Erasure: safety-linked records kept under a pseudonym, the rest removed, consents and
sessions ended, the audit chain still verifying; legal holds; who may erase."""

from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import func, select

from chat.models import ConsentPeriod, Conversation, Message
from portal import audit
from portal.accounts.models import CallNote, ContactPreferences
from portal.errors import Conflict, InvalidInput, PermissionDenied
from portal.extensions import db
from portal.models import AuditRecord, Notification, Role, User, UserSession
from portal.privacy import erase
from portal.privacy.models import ErasureRequest, ErasureStatus
from portal.questions.models import Question
from portal.retention.models import HoldScope, LegalHold
from portal.safety.models import PvCase
from tests.conftest import login
from tests.factories import make_user
from tests.portal import helpers
from tests.portal.privacy.seed import seed_history


def count(model: type, *where: object) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def hold(user: User) -> LegalHold:
    row = LegalHold(scope=HoldScope.PERSON, user_id=user.id, reason="Litigation 2026-17")
    db.session.add(row)
    db.session.commit()
    return row


def test_erasure_keeps_safety_records_pseudonymised_and_removes_the_rest(app):
    history = seed_history()
    helpers.signed_in(app, history.hcp)
    hcp = helpers.fresh(history.hcp)
    old_email, old_name, npi = hcp.email, hcp.name, hcp.hcp_profile.npi
    admin = make_user(Role.ADMIN)

    done = erase.erase_person(admin, hcp, reason="Data-protection request by letter")

    person = helpers.fresh(history.hcp)
    assert not done.held and person.name == done.pseudonym
    assert person.name.startswith("erased-") and person.email.endswith(".invalid")
    assert person.suspended and person.hcp_profile.npi is None
    assert person.hcp_profile.institution == "" and person.hcp_profile.profession is not None
    # Kept: the chat with an adverse event and the adverse-event question, with the PV case.
    assert db.session.get(Conversation, history.safety_chat) is not None
    assert count(Message, Message.conversation_id == history.safety_chat) == 1
    assert db.session.get(Question, history.safety_question) is not None
    assert count(PvCase, PvCase.question_id == history.safety_question) >= 1
    # Removed: the plain chat (both sides), the closed question, the call note.
    assert db.session.get(Conversation, history.plain_chat) is None
    assert count(Message, Message.conversation_id == history.plain_chat) == 0
    assert db.session.get(Question, history.plain_question) is None
    assert db.session.get(CallNote, history.call_note) is None
    assert done.kept["conversations"] == 1 and done.removed["conversations"] == 1
    assert done.kept["questions"] == 1 and done.removed["questions"] == 1
    assert done.removed["messages"] == 3 and done.removed["call_notes"] == 1
    assert done.removed["material_views"] == 1
    # Nothing left that names them.
    assert count(User, User.email == old_email) == 0
    assert count(Notification, Notification.title.contains(old_name)) == 0
    assert count(UserSession, UserSession.user_id == hcp.id) == 0
    # The trail: still verifying, no personal data of theirs, one record of the erasure.
    assert audit.verify().ok
    theirs = db.session.scalars(select(AuditRecord).where(AuditRecord.actor_id == hcp.id)).all()
    assert theirs and all(r.actor_label == person.email and r.personal is None for r in theirs)
    trail = " ".join(
        str(r.shown_details) + r.actor_label for r in db.session.scalars(select(AuditRecord))
    )
    assert old_email not in trail and npi not in trail
    erased = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "privacy.erased")
    ).one()
    assert (
        erased.details["removed"]["questions"] == 1
        and erased.details["requested_by"] == "administrator"
    )
    request = db.session.scalars(select(ErasureRequest)).one()
    assert request.status is ErasureStatus.DONE and request.pseudonym == done.pseudonym


def test_erasure_ends_consents_and_sessions(app):
    history = seed_history()
    browser = helpers.signed_in(app, history.hcp)
    hcp = helpers.fresh(history.hcp)

    erase.erase_person(None, hcp, reason="Request by e-mail")

    assert (
        count(ConsentPeriod, ConsentPeriod.hcp_id == hcp.id, ConsentPeriod.withdrawn_at.is_(None))
        == 0
    )
    assert count(ConsentPeriod, ConsentPeriod.hcp_id == hcp.id) == 1  # the kept chat's, ended
    preferences = db.session.get(ContactPreferences, hcp.id)
    assert preferences is not None and preferences.channels == [] and preferences.cap == 0
    assert browser.get("/account").status_code == 302  # signed out
    assert login(app.test_client(), history.hcp.email).status_code != 302


def test_a_legal_hold_keeps_the_request_pending_and_erases_nothing(app):
    history = seed_history()
    hcp = helpers.fresh(history.hcp)
    admin = make_user(Role.ADMIN)
    hold(hcp)
    email = hcp.email

    done = erase.erase_person(admin, hcp, reason="Data-protection request")

    assert done.held
    assert helpers.fresh(history.hcp).email == email
    assert db.session.get(Conversation, history.plain_chat) is not None
    pending = erase.pending_requests(admin)
    assert [r.user_id for r in pending] == [hcp.id]
    assert count(AuditRecord, AuditRecord.action == "privacy.erasure_held") == 1

    # Released: the same request runs.
    db.session.get(LegalHold, 1).released_at = hcp.created_at
    db.session.commit()
    again = erase.erase_person(admin, helpers.fresh(history.hcp), reason="Hold released")
    assert not again.held
    assert count(ErasureRequest) == 1 and erase.pending_requests(admin) == []


@pytest.mark.parametrize("role", [Role.COMPLIANCE, Role.MSL, Role.PHARMACOVIGILANCE])
def test_only_the_person_or_an_administrator_may_erase(app, role):
    history = seed_history()
    actor = make_user(role)

    with pytest.raises(PermissionDenied):
        erase.erase_person(actor, helpers.fresh(history.hcp), reason="Because I say so")

    assert count(ErasureRequest) == 0
    assert helpers.fresh(history.hcp).suspended is False


def test_staff_are_never_erased(app):
    admin = make_user(Role.ADMIN)
    colleague = make_user(Role.REP)

    with pytest.raises(PermissionDenied):
        erase.erase_person(admin, colleague, reason="Left the company")
    with pytest.raises(PermissionDenied):
        erase.erase_person(None, colleague, reason="Left the company")


def test_an_erased_person_cannot_be_erased_twice(app):
    history = seed_history()
    erase.erase_person(None, helpers.fresh(history.hcp), reason="Request by e-mail")

    with pytest.raises(Conflict):
        erase.erase_person(None, helpers.fresh(history.hcp), reason="Request by e-mail")


def test_deleting_ones_own_account_takes_the_password_and_the_second_factor(app):
    from tests.conftest import PASSWORD
    from tests.portal.test_two_factor import enrol

    history = seed_history()
    hcp = helpers.fresh(history.hcp)
    secret, _codes = enrol(hcp)

    with pytest.raises(InvalidInput) as wrong_password:
        erase.erase_own_account(hcp, password="not-my-password", code="")
    with pytest.raises(InvalidInput) as no_code:
        erase.erase_own_account(helpers.fresh(history.hcp), password=PASSWORD, code="")
    with pytest.raises(InvalidInput) as wrong_code:
        erase.erase_own_account(helpers.fresh(history.hcp), password=PASSWORD, code="000000")
    assert (wrong_password.value.field, no_code.value.field, wrong_code.value.field) == (
        "password", "code", "code",
    )  # fmt: skip
    assert not helpers.fresh(history.hcp).suspended
    assert count(AuditRecord, AuditRecord.action == "privacy.erasure_refused") == 1

    done = erase.erase_own_account(
        helpers.fresh(history.hcp), password=PASSWORD, code=pyotp.TOTP(secret).now()
    )

    assert not done.held and helpers.fresh(history.hcp).name == done.pseudonym
