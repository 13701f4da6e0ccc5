"""The readable audit trail: records as sentences with linked targets and readable details,
filters (dates in the viewer's zone), the chain check as a button, the CSV of a filtered view."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import bindparam, select, text

from portal import audit
from portal.extensions import db
from portal.models import AuditRecord, Role, User
from portal.questions.models import reference_of
from portal.services import audit_sentences, audit_trail
from tests.chat.factories import active_conversation, chat_pair, send
from tests.conftest import IsolatedClient, login
from tests.factories import make_hcp, make_user
from tests.portal.questions.factories import ask


def browser(app: Flask, user: User) -> FlaskClient:
    app.test_client_class = IsolatedClient
    client = app.test_client()
    assert login(client, user.email).status_code == 302
    return client


def body(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def record_of(action: str) -> AuditRecord:
    found = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id.desc())
    ).first()
    assert found is not None, action
    return found


def read(app: Flask, viewer: User, record: AuditRecord) -> audit_sentences.ReadableRecord:
    with app.test_request_context():
        return audit_sentences.readable(viewer, [record])[0]


@pytest.fixture
def auditor() -> User:
    return make_user(Role.COMPLIANCE, name="Casey Audit")


@pytest.fixture
def admin() -> User:
    return make_user(Role.ADMIN, name="Alex Admin")


# --- sentences ----------------------------------------------------------------------------------


def test_a_question_and_its_answer_read_as_sentences_naming_actor_role_and_reference(app, auditor):
    hcp = make_hcp(name="Dr. Ada Byron")
    msl = make_user(Role.MSL, name="Sam Lee")
    question = ask(hcp)
    audit.record(msl, "question.reply", question, entry=1, materials=[])
    db.session.commit()

    asked = read(app, auditor, record_of("question.submit"))
    answered = read(app, auditor, record_of("question.reply"))

    ref = reference_of(question.id)
    assert asked.sentence.text() == f"Dr. Ada Byron (HCP) asked question {ref}"
    assert answered.sentence.text() == f"Sam Lee (MSL) answered question {ref}"
    assert answered.known


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("auth.login", "Sam Lee (MSL) signed in"),
        ("user.suspended", "Sam Lee (MSL) suspended Pat Rep (Rep)"),
        (
            "user.assignment_changed",
            "Sam Lee (MSL) changed the role or assignment of Pat Rep (Rep)",
        ),
        ("hcp.verified", "Sam Lee (MSL) verified Pat Rep (Rep)"),
        ("privacy.erased", "Sam Lee (MSL) erased the personal data of Pat Rep (Rep)"),
        ("legal_hold.placed", "Sam Lee (MSL) placed a legal hold on Pat Rep (Rep)"),
    ],
)
def test_actions_on_people_name_both_people(app, auditor, action, expected):
    msl = make_user(Role.MSL, name="Sam Lee")
    rep = make_user(Role.REP, name="Pat Rep")
    target = msl if action == "auth.login" else rep
    audit.record(msl, action, target)
    db.session.commit()

    assert read(app, auditor, record_of(action)).sentence.text() == expected


def test_chat_consent_and_messages_read_as_sentences(app, auditor):
    hcp, msl, _ = chat_pair(Role.MSL, name="Dr. Chat")
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "Hello")

    consent = read(app, auditor, record_of("chat.consent_given")).sentence.text()
    sent = read(app, auditor, record_of("chat.message_sent")).sentence.text()

    assert consent == f"Dr. Chat (HCP) agreed to chat in conversation #{conversation.id}"
    assert sent == f"Dr. Chat (HCP) sent message #1 in conversation #{conversation.id}"


def test_an_unknown_action_reads_as_a_generic_sentence_and_the_system_as_the_portal(app, auditor):
    audit.record(None, "something.new", ("widgets", 7), colour="blue")
    db.session.commit()

    shown = read(app, auditor, record_of("something.new"))

    assert not shown.known
    assert shown.sentence.text() == "The portal: “something.new” on widgets #7"


def test_every_action_the_portal_records_has_a_sentence():
    # The actions named in the code (what `grep audit.record(` lists) all read as sentences.
    for action in (
        "auth.login", "auth.login_failed", "session.started", "two_factor.enrolled",
        "hcp.registered", "hcp.verified", "user.created", "question.submit", "question.reply",
        "question.reassign", "chat.invited", "chat.consent_withdrawn", "chat.message_edited",
        "pv_case.open", "safety.attest", "material.approved", "call_note.recorded",
        "routing_rule.updated", "webhook.create", "api_token.created", "audit.exported",
    ):  # fmt: skip
        assert action in audit_sentences.ACTIONS, action


# --- details ------------------------------------------------------------------------------------


def test_details_are_laid_out_with_readable_values(app, auditor):
    admin = make_user(Role.ADMIN, name="Alex Admin")
    rep = make_user(Role.REP, name="Pat Rep")
    audit.record(
        admin, "user.assignment_changed", rep,
        before={"role": "rep", "teams": ["sales"]}, after={"role": "msl", "teams": ["msl"]},
    )  # fmt: skip
    audit.record(
        admin, "something.flagged", rep, licence=None, flags=["adverse_event"],
        routing={"ae": False, "off_label": True}, late=True,
    )  # fmt: skip
    db.session.commit()

    changed = read(app, auditor, record_of("user.assignment_changed"))
    flagged = read(app, auditor, record_of("something.flagged"))

    changes = [v.text for item in changed.details if item.key == "changes" for v in item.values]
    assert changes == ["Role: Rep → MSL", "Teams: Sales → MSL team"]
    laid_out = {item.key: ", ".join(v.text for v in item.values) for item in flagged.details}
    assert laid_out == {
        "flags": "adverse_event",
        "late": "yes",
        "licence": "—",
        "routing": "ae: no; off_label: yes",
    }


def test_the_page_shows_no_python_values(app, client, auditor):
    rep = make_user(Role.REP)
    audit.record(
        auditor, "something.flagged", rep, licence=None, flags=["adverse_event"],
        routing={"ae": False}, before={"role": "rep"}, after={"role": "msl"},
    )  # fmt: skip
    db.session.commit()
    login(client, auditor.email)

    page = body(client.get("/audit", query_string={"action": "something.flagged"}))

    details = page[page.index('data-testid="audit-details"') :]
    for raw in ("None", "False", "True", "['", "{'"):
        assert raw not in details, raw
    assert "Role: Rep → MSL" in details


def test_an_erased_persons_records_show_the_pseudonym_and_no_personal_data(app, client, auditor):
    hcp = make_hcp(name="Dr. Forget Me", email="forget.me@clinic.test")
    audit.record(hcp, "auth.login", hcp, ip="203.0.113.9")
    db.session.commit()
    audit.erase_person(hcp.id, pseudonym="erased-abc123")
    hcp.name, hcp.email = "erased-abc123", "erased-abc123@erased.invalid"
    db.session.commit()
    login(client, auditor.email)

    page = body(client.get("/audit", query_string={"target_type": "users", "target_id": hcp.id}))

    assert "forget.me@clinic.test" not in page and "203.0.113.9" not in page
    assert "Dr. Forget Me" not in page
    assert "erased-abc123 (HCP) signed in" in re.sub(r"<[^>]+>", "", page)
    assert "personal data erased" in page
    assert audit.verify().ok


# --- links ----------------------------------------------------------------------------------------


def links(page: str) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', page))


def test_targets_link_to_their_pages_where_the_viewer_may_open_them(app, auditor, admin):
    hcp, msl, _ = chat_pair(Role.MSL)
    conversation = active_conversation(hcp, msl)
    question = ask(hcp)
    audit.record(admin, "user.suspended", msl, reason="left")
    db.session.commit()

    as_auditor = body(browser(app, auditor).get("/audit"))
    as_admin = body(browser(app, admin).get("/audit"))

    question_page = f"/questions/{question.id}"
    transcript = f"/compliance/chats/{conversation.id}"
    user_page = f"/admin/users/{msl.id}"
    # Compliance reads questions and chat transcripts; administrators do not (the firewall
    # and their policy): the reference is shown, not linked.
    assert question_page in links(as_auditor) and question_page not in links(as_admin)
    assert transcript in links(as_auditor) and transcript not in links(as_admin)
    assert reference_of(question.id) in as_admin
    # Both may open the user administration page.
    assert user_page in links(as_auditor) and user_page in links(as_admin)


def test_a_message_links_to_its_place_in_the_transcript(app, auditor):
    hcp, msl, _ = chat_pair(Role.MSL)
    conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "One")
    send(msl, conversation, "Two")

    shown = read(app, auditor, record_of("chat.message_sent"))

    assert shown.target is not None
    assert shown.target.url == f"/compliance/chats/{conversation.id}#seq-2"


def test_a_deleted_routing_rule_is_named_but_not_linked(app, admin):
    audit.record(admin, "routing_rule.deleted", ("routing_rules", 999999), name="Gone rule")
    db.session.commit()

    shown = read(app, admin, record_of("routing_rule.deleted"))

    assert shown.sentence.text() == "Alex Admin (Administrator) deleted routing rule “Gone rule”"
    assert shown.target is not None and shown.target.url is None


# --- the page and its filters ---------------------------------------------------------------------


def ids_on(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-record="(\d+)"', page)]


def test_filter_by_actor_email_or_name(app, client, auditor):
    sam = make_user(Role.MSL, name="Sam Lee", email="sam.lee@company.test")
    pat = make_user(Role.REP, name="Pat Rep")
    one = audit.record(sam, "test.step", sam).id
    two = audit.record(pat, "test.step", pat).id
    db.session.commit()
    login(client, auditor.email)

    by_email = body(client.get("/audit", query_string={"actor": "SAM.LEE@"}))
    by_name = body(client.get("/audit", query_string={"actor": "sam lee"}))

    assert one in ids_on(by_email) and two not in ids_on(by_email)
    assert one in ids_on(by_name) and two not in ids_on(by_name)


def test_filter_by_action_exact_or_group_and_by_target(app, client, auditor):
    rep = make_user(Role.REP)
    login_id = audit.record(rep, "auth.login", rep).id
    logout_id = audit.record(rep, "auth.logout", rep).id
    other = audit.record(rep, "user.renamed", ("users", 424242)).id
    db.session.commit()
    login(client, auditor.email)

    exact = ids_on(body(client.get("/audit", query_string={"action": "auth.login"})))
    group = ids_on(body(client.get("/audit", query_string={"action": "auth."})))
    target = ids_on(
        body(client.get("/audit", query_string={"target_type": "users", "target_id": "424242"}))
    )

    assert login_id in exact and logout_id not in exact
    assert {login_id, logout_id} <= set(group) and other not in group
    assert target == [other]


def test_dates_are_days_in_the_viewers_time_zone(app, client):
    viewer = make_user(Role.COMPLIANCE, timezone="America/New_York")
    # 03:00 UTC on 10 March is still 9 March in New York (UTC-5).
    with time_machine.travel(dt.datetime(2026, 3, 10, 3, 0, tzinfo=dt.UTC), tick=False):
        late = audit.record(viewer, "test.dated", viewer).id
        db.session.commit()
    with time_machine.travel(dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC), tick=False):
        next_day = audit.record(viewer, "test.dated", viewer).id
        db.session.commit()
    login(client, viewer.email)

    def shown(since: str, until: str) -> list[int]:
        args = {"action": "test.dated", "since": since, "until": until}
        return ids_on(body(client.get("/audit", query_string=args)))

    assert shown("2026-03-09", "2026-03-09") == [late]
    assert shown("2026-03-10", "2026-03-10") == [next_day]
    assert shown("2026-03-09", "2026-03-10") == [next_day, late]
    assert shown("2026-03-11", "") == []


@pytest.mark.parametrize(
    "args",
    [
        {"since": "2026-02-30"},
        {"since": "yesterday"},
        {"until": "31/03/2026"},
        {"since": "2026-03-10", "until": "2026-03-01"},
        {"since": "1850-01-01"},
        {"action": "auth.login'; DROP TABLE users;--"},
        {"target_type": "Users!"},
        {"record": "abc"},
        {"actor": "x" * 300},
        {"target_id": "bad\x00id"},
    ],
)
def test_bad_filters_answer_400_with_a_clear_message(app, client, auditor, args):
    login(client, auditor.email)

    for path in ("/audit", "/audit/export.csv"):
        response = client.get(path, query_string=args)

        assert response.status_code == 400, (path, args)
        assert 'data-testid="audit-problem"' in body(response)
    assert "audit.exported" not in {r.action for r in db.session.scalars(select(AuditRecord))}


def test_a_bad_date_names_the_expected_format(app, client, auditor):
    login(client, auditor.email)

    page = body(client.get("/audit", query_string={"since": "2026-02-30"}))

    assert "YYYY-MM-DD" in page


def test_page_links_keep_the_filters(app, client, auditor, monkeypatch):
    monkeypatch.setattr(audit_trail, "PAGE_SIZE", 2)
    for step in range(5):
        audit.record(auditor, "test.paged", auditor, step=step)
    db.session.commit()
    login(client, auditor.email)

    page = body(client.get("/audit", query_string={"action": "test.paged"}))

    assert "/audit?page=2&amp;action=test.paged" in page or "action=test.paged&amp;page=2" in page


@pytest.mark.parametrize("role", [r for r in Role if r not in (Role.ADMIN, Role.COMPLIANCE)])
def test_other_roles_find_no_audit_pages(client, role):
    login(client, make_user(role).email)

    assert client.get("/audit").status_code == 404
    assert client.post("/audit/verify").status_code == 404
    assert client.get("/audit/export.csv").status_code == 404


# --- the chain check ------------------------------------------------------------------------------


@pytest.fixture
def unprotected(app: Flask) -> Iterator[None]:
    """The append-only triggers dropped (an attacker with database access), put back after."""
    dialect = db.engine.dialect.name
    restore = None
    if dialect == "postgresql":
        restore = db.session.scalar(
            text(
                "SELECT pg_get_triggerdef(oid) FROM pg_trigger "
                "WHERE tgname = 'audit_records_no_update' "
                "AND tgrelid = 'audit_records'::regclass"
            )
        )
        db.session.execute(text("DROP TRIGGER IF EXISTS audit_records_no_update ON audit_records"))
    else:
        db.session.execute(text("DROP TRIGGER IF EXISTS audit_records_no_update"))
        db.session.execute(text("DROP TRIGGER IF EXISTS audit_records_no_delete"))
    db.session.commit()
    yield
    if restore:
        db.session.rollback()
        db.session.execute(text("DROP TRIGGER IF EXISTS audit_records_no_update ON audit_records"))
        db.session.execute(text(restore))
        db.session.commit()


def test_the_verify_button_reports_an_intact_chain(app, client, auditor):
    login(client, auditor.email)

    response = client.post("/audit/verify")

    assert response.status_code == 200
    match = re.search(r"Chain intact: (\d+) records verified", body(response))
    assert match
    assert int(match.group(1)) == audit.verify().checked > 0


def test_the_verify_button_links_the_first_tampered_record(app, client, auditor, unprotected):
    rep = make_user(Role.REP)
    ids = [audit.record(rep, "test.step", rep, step=n).id for n in range(3)]
    db.session.commit()
    tampered = ids[1]
    db.session.execute(
        text("UPDATE audit_records SET details = :details WHERE id = :id").bindparams(
            bindparam("details", type_=AuditRecord.__table__.c.details.type)
        ),
        {"details": {"step": 99}, "id": tampered},
    )
    db.session.commit()
    login(client, auditor.email)

    page = body(client.post("/audit/verify"))

    assert "Chain broken at record" in page
    assert f'href="/audit?record={tampered}"' in page
    assert ids_on(body(client.get("/audit", query_string={"record": tampered}))) == [tampered]


def test_the_verify_button_is_a_form_post_with_its_csrf_token(app, client, auditor):
    login(client, auditor.email)

    page = body(client.get("/audit"))
    form = page[page.index('data-testid="verify-form"') :][:400]

    assert (
        'method="post"'
        in page[page.rindex("<form", 0, page.index('data-testid="verify-form"')) :][:200]
    )
    assert 'name="csrf_token"' in form
    assert client.get("/audit/verify").status_code == 405


# --- the CSV --------------------------------------------------------------------------------------


def csv_rows(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    return list(csv.DictReader(io.StringIO(body(response))))


def test_the_csv_holds_every_matching_record_oldest_first(app, client, auditor):
    msl = make_user(Role.MSL, name="Sam Lee")
    with time_machine.travel(dt.datetime(2026, 3, 10, 9, 30, tzinfo=dt.UTC), tick=False):
        first = audit.record(msl, "test.csv", msl, n=1, flags=["a"])
        second = audit.record(msl, "test.csv", ("questions", 5), n=2)
        audit.record(msl, "test.other", msl)
        db.session.commit()
    login(client, auditor.email)

    response = client.get("/audit/export.csv", query_string={"action": "test.csv"})

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = csv_rows(response)
    assert list(rows[0]) == list(audit_trail.CSV_COLUMNS)
    assert [int(r["id"]) for r in rows] == [first.id, second.id]
    assert rows[0]["at"] == "2026-03-10T09:30:00+00:00"
    assert rows[0]["actor"] == "Sam Lee (MSL)"
    assert rows[0]["action"] == "test.csv"
    assert rows[0]["sentence"].startswith("Sam Lee (MSL): “test.csv” on")
    assert (rows[1]["target_type"], rows[1]["target_id"]) == ("questions", "5")
    assert json.loads(rows[0]["details"]) == {"flags": ["a"], "n": 1}
    assert rows[0]["hash"] == first.hash


def test_the_csv_export_is_audited_with_its_filters(app, client, auditor):
    audit.record(auditor, "test.csv", auditor)
    db.session.commit()
    login(client, auditor.email)

    rows = csv_rows(
        client.get("/audit/export.csv", query_string={"action": "test.csv", "since": "2026-01-01"})
    )

    exported = record_of("audit.exported")
    assert exported.actor_id == auditor.id
    assert exported.details["filters"] == {"action": "test.csv", "since": "2026-01-01"}
    assert exported.details["rows"] == len(rows) == 1
    # The export is not in its own file.
    assert exported.id not in {int(r["id"]) for r in rows}
    assert audit.verify().ok


def test_an_exports_actor_search_is_kept_in_the_erasable_personal_part(app, client, auditor):
    login(client, auditor.email)

    client.get("/audit/export.csv", query_string={"actor": "dr.who@clinic.test"})

    exported = record_of("audit.exported")
    assert exported.details["filters"] == {}
    assert exported.personal == {"actor_search": "dr.who@clinic.test"}
    assert "dr.who" not in repr(exported.details)


def test_the_csv_is_refused_past_its_cap(app, client, auditor, monkeypatch):
    monkeypatch.setattr(audit_trail, "EXPORT_CAP", 2)
    for n in range(3):
        audit.record(auditor, "test.csv", auditor, n=n)
    db.session.commit()
    login(client, auditor.email)

    response = client.get("/audit/export.csv", query_string={"action": "test.csv"})

    assert response.status_code == 400
    assert "narrow" in body(response)


def test_the_csv_reads_in_batches(app, client, auditor, monkeypatch):
    monkeypatch.setattr(audit_trail, "EXPORT_BATCH", 2)
    ids = [audit.record(auditor, "test.csv", auditor, n=n).id for n in range(5)]
    db.session.commit()
    login(client, auditor.email)

    rows = csv_rows(client.get("/audit/export.csv", query_string={"action": "test.csv"}))

    assert [int(r["id"]) for r in rows] == ids


def test_the_csv_never_starts_a_cell_with_a_formula(app, client, auditor):
    sneaky = make_user(Role.REP, name='=HYPERLINK("http://evil")')
    audit.record(sneaky, "test.csv", sneaky)
    db.session.commit()
    login(client, auditor.email)

    rows = csv_rows(client.get("/audit/export.csv", query_string={"action": "test.csv"}))

    assert rows[0]["actor"].startswith("'=")
    assert rows[0]["sentence"].startswith("'=")
