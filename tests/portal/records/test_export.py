"""The export's contents against a seeded history: messages with their edits and deletions,
consent periods with the withdrawal, questions with their threads, PV cases, the summary and a
manifest whose hashes are the files' own; and the filters."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from typing import Any

import pytest

from portal import audit
from portal.errors import InvalidInput
from portal.models import TeamKey, utcnow
from portal.records import export, filters
from tests.portal.records.conftest import History, jsonl, read_zip


def run(filters: export.ExportFilters) -> tuple[export.ExportResult, dict[str, bytes]]:
    out = io.BytesIO()
    result = export.write_export(filters, out, generated_by={"via": "test"})
    return result, read_zip(out.getvalue())


def today_filters(**overrides: Any) -> export.ExportFilters:
    today = utcnow().date()
    return export.ExportFilters(
        since=today - dt.timedelta(days=1), until=today + dt.timedelta(days=1), **overrides
    )


def test_messages_carry_sender_seq_and_the_originals_of_edits_and_deletions(history: History):
    _result, files = run(today_filters())

    rows = [m for m in jsonl(files["messages.jsonl"]) if m["conversation_id"] == history.chat.id]
    assert [m["seq"] for m in rows] == [1, 2, 3]
    deleted = next(m for m in rows if m["id"] == history.deleted_id)
    assert deleted["deleted_at"] is not None
    assert [r["kind"] for r in deleted["revisions"]] == ["delete"]
    assert deleted["revisions"][0]["previous_body"] == "Hello, a question about the titration."
    edited = next(m for m in rows if m["id"] == history.edited_id)
    assert edited["body"] == "Happy to help: which dose?"
    assert edited["revisions"][0]["kind"] == "edit"
    assert edited["revisions"][0]["previous_body"] == "Happy to help, what dose?"
    assert edited["sender"] == {"id": history.msl.id, "role": "msl", "name": "Sam MSL"}
    assert all(m["sent_at"].endswith("+00:00") for m in rows)


def test_consent_periods_show_the_withdrawal_and_the_wording(history: History):
    _result, files = run(today_filters())

    periods = {p["conversation_id"]: p for p in jsonl(files["consents.jsonl"])}
    withdrawn = periods[history.chat.id]
    assert withdrawn["withdrawn_at"] is not None
    assert withdrawn["withdrawn_via"] == "conversation"
    assert withdrawn["hcp"]["id"] == history.hcp.id
    assert withdrawn["wording"]["text"]
    assert periods[history.other_chat.id]["withdrawn_at"] is None


def test_questions_carry_replies_notes_routing_events_and_attestations(history: History):
    _result, files = run(today_filters())

    questions = {q["id"]: q for q in jsonl(files["questions.jsonl"])}
    question = questions[history.question.id]
    kinds = [e["kind"] for e in question["entries"]]
    assert kinds == ["note", "reply"]
    assert question["entries"][1]["body"]
    assert question["entries"][1]["author"]["name"] == "Mia Info"
    assert question["routing"]["teams"]
    assert {"received", "routed", "answered"} <= {e["kind"] for e in question["events"]}
    assert [a["adverse_event"] for a in question["attestations"]] == [False]
    assert question["reference"] == f"Q-{history.question.id:06d}"


def test_pv_cases_name_what_they_link_to(history: History):
    _result, files = run(today_filters())

    cases = jsonl(files["pv_cases.jsonl"])
    case = next(c for c in cases if c["id"] == history.case.id)
    assert case["links"]["question_id"] == history.ae_question.id
    assert case["reference"] == f"PV-{history.case.id:06d}"


def test_the_summary_has_a_row_per_conversation_and_question_with_counts(history: History):
    _result, files = run(today_filters())

    rows = list(csv.DictReader(io.StringIO(files["summary.csv"].decode())))
    chat = next(
        r for r in rows if r["record"] == "conversation" and r["id"] == str(history.chat.id)
    )
    assert (chat["messages"], chat["edited"], chat["deleted"]) == ("3", "1", "1")
    assert (chat["consent_periods"], chat["withdrawals"]) == ("1", "1")
    assert chat["hcp_name"] == "Dr. Ada Export" and chat["staff_name"] == "Sam MSL"
    question = next(
        r for r in rows if r["record"] == "question" and r["id"] == str(history.question.id)
    )
    assert (question["replies"], question["notes"], question["attestations"]) == ("1", "1", "1")
    ae = next(
        r for r in rows if r["record"] == "question" and r["id"] == str(history.ae_question.id)
    )
    assert ae["pv_cases"] == "1"
    assert {r["record"] for r in rows} == {"conversation", "question"}


def test_the_manifest_hashes_are_the_files_own_and_it_quotes_the_chain_head(history: History):
    head = audit.chain_head()
    result, files = run(today_filters())

    manifest = json.loads(files["manifest.json"])
    assert sorted(f["name"] for f in manifest["files"]) == sorted(export.FILES)
    for entry in manifest["files"]:
        data = files[entry["name"]]
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)
    rows = {f["name"]: f["rows"] for f in manifest["files"]}
    assert rows["messages.jsonl"] == len(jsonl(files["messages.jsonl"])) == 4
    assert rows["summary.csv"] == len(files["summary.csv"].decode().splitlines()) - 1
    assert manifest["audit_chain_head"] == {"seq": head[0], "hash": head[1]}
    assert manifest["filters"]["since"] == today_filters().since.isoformat()
    assert result.rows["messages"] == 4
    assert result.chain_head == manifest["audit_chain_head"]


def test_the_result_hash_is_the_zips_own(history: History):
    out = io.BytesIO()
    result = export.write_export(today_filters(), out, generated_by={"via": "test"})

    assert result.sha256 == hashlib.sha256(out.getvalue()).hexdigest()
    assert result.bytes == len(out.getvalue())


def test_the_date_range_leaves_out_what_happened_outside_it(history: History):
    earlier = utcnow().date() - dt.timedelta(days=5)
    _result, files = run(export.ExportFilters(since=earlier, until=earlier))
    for name in ("messages.jsonl", "questions.jsonl", "pv_cases.jsonl", "consents.jsonl"):
        assert jsonl(files[name]) == [], name

    # Later days: only the consent period still open then.
    later = utcnow().date() + dt.timedelta(days=5)
    _result, files = run(export.ExportFilters(since=later, until=later))
    for name in ("messages.jsonl", "questions.jsonl", "pv_cases.jsonl"):
        assert jsonl(files[name]) == [], name
    assert [c["conversation_id"] for c in jsonl(files["consents.jsonl"])] == [history.other_chat.id]


def test_one_hcp_filter_keeps_only_their_records(history: History):
    _result, files = run(today_filters(hcp_id=history.hcp.id))

    assert {m["conversation_id"] for m in jsonl(files["messages.jsonl"])} == {history.chat.id}
    assert {q["hcp"]["id"] for q in jsonl(files["questions.jsonl"])} == {history.hcp.id}
    assert {c["conversation_id"] for c in jsonl(files["consents.jsonl"])} == {history.chat.id}
    assert [c["id"] for c in jsonl(files["pv_cases.jsonl"])] == [history.case.id]


def test_one_staff_member_filter_keeps_their_conversations_and_questions(history: History):
    _result, files = run(today_filters(staff_id=history.mi.id))

    assert jsonl(files["messages.jsonl"]) == []
    assert history.question.id in {q["id"] for q in jsonl(files["questions.jsonl"])}

    _result, files = run(today_filters(staff_id=history.msl.id))
    assert {m["conversation_id"] for m in jsonl(files["messages.jsonl"])} == {history.chat.id}
    assert jsonl(files["questions.jsonl"]) == []

    _result, files = run(today_filters(staff_id=history.rep.id))
    assert {m["conversation_id"] for m in jsonl(files["messages.jsonl"])} == {history.other_chat.id}


def test_team_and_product_filters(history: History):
    _result, files = run(today_filters(team=TeamKey.MSL))
    assert {m["conversation_id"] for m in jsonl(files["messages.jsonl"])} == {history.chat.id}

    _result, files = run(today_filters(product_id=history.product.id))
    assert {q["id"] for q in jsonl(files["questions.jsonl"])} == {
        history.question.id,
        history.ae_question.id,
    }
    # Chats carry no product: the conversations of the staff who work it.
    assert {m["conversation_id"] for m in jsonl(files["messages.jsonl"])} == {history.chat.id}
    assert [c["id"] for c in jsonl(files["pv_cases.jsonl"])] == [history.case.id]


def test_parse_filters_reads_emails_and_refuses_bad_input(history: History):
    chosen = filters.parse_filters(
        since="2026-01-01",
        until="2026-01-31",
        hcp=history.hcp.email.upper(),
        staff=history.msl.email,
        team="msl",
        product=history.product.code,
    )
    assert (chosen.hcp_id, chosen.staff_id, chosen.team) == (
        history.hcp.id,
        history.msl.id,
        TeamKey.MSL,
    )
    assert chosen.product_id == history.product.id

    with pytest.raises(InvalidInput) as bad:
        filters.parse_filters(
            since="2026-13-01", until="2026-01-01", hcp="nobody@x.test", staff=history.hcp.email
        )
    assert set(bad.value.errors) == {"since", "hcp", "staff"}
    with pytest.raises(InvalidInput) as reversed_range:
        filters.parse_filters(since="2026-02-01", until="2026-01-01")
    assert set(reversed_range.value.errors) == {"until"}
    with pytest.raises(InvalidInput):
        filters.parse_filters(since="2026-01-01", until="2026-01-02", team="nope")


def test_days_are_read_in_the_given_time_zone():
    filters = export.ExportFilters(
        since=dt.date(2026, 3, 1), until=dt.date(2026, 3, 1), timezone="America/New_York"
    )
    start, end = filters.bounds()
    assert start == dt.datetime(2026, 3, 1, 5, tzinfo=dt.UTC)
    assert end == dt.datetime(2026, 3, 2, 5, tzinfo=dt.UTC)
