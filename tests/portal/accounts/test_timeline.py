"""An HCP's record as each viewer may see it (:mod:`portal.accounts.timeline`): every kind of
event, the firewall on its content, and cursor paging that neither skips nor repeats.

``seed_record`` makes one HCP with one event of every kind on both sides of the firewall (chat,
questions and preferences through their services; call notes, shares, meetings, invitations and
engagement inserted as rows) and is shared with ``test_hcp_page.py``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from chat.models import ConsentPeriod, Conversation, ConversationState, Invitation
from content.models import Bookmark, EventKind, Material, MaterialEvent
from portal.accounts import preferences, timeline
from portal.accounts.models import (
    CallNote,
    Contact,
    ContactChannel,
    ContactKind,
    InteractionKind,
    MaterialShare,
    Meeting,
    MeetingMode,
    MeetingState,
)
from portal.errors import InvalidInput, NotFound
from portal.extensions import db
from portal.models import Role, User, utcnow
from portal.models.reference import Side
from portal.questions.models import QuestionEvent, QuestionEventKind, QuestionStatus
from tests.chat.factories import active_conversation
from tests.content.factories import make_material
from tests.factories import make_hcp, make_product, make_territory, make_user
from tests.portal.questions.factories import ask

# Words that only some viewers may read: none of them may ever reach a rep's page or JSON.
MEDICAL_QUESTION = "SECRET-MEDICAL-QUESTION: what dose in severe renal impairment?"
MSL_NOTE = "SECRET-MSL-NOTE discussed the renal subgroup data"
MSL_SHARE_NOTE = "SECRET-MSL-SHARE-NOTE"
MSL_TOPIC = "SECRET-MSL-MEETING-TOPIC"
MSL_INVITE_NOTE = "SECRET-MSL-INVITATION-NOTE"
MSL_SECRETS = (MEDICAL_QUESTION, MSL_NOTE, MSL_SHARE_NOTE, MSL_TOPIC, MSL_INVITE_NOTE)
COMMERCIAL_QUESTION = "Could you send samples for my clinic? COMMERCIAL-QUESTION"
REP_NOTE = "REP-NOTE talked about the access programme"

READERS = ("rep", "market_access", "msl", "mi", "compliance")
OUTSIDERS = ("other_rep", "hcp")
EVERYONE = frozenset(READERS)
MEDICAL = frozenset({"msl", "mi", "compliance"})

# label -> (kind, the viewers who see its content; everyone else who opens the record sees it
# with ``detail`` null)
EXPECTED: dict[str, tuple[str, frozenset[str]]] = {
    "registered": ("registered", EVERYONE),
    "verified": ("verified", EVERYONE),
    "viewed": ("material_viewed", EVERYONE),
    "downloaded": ("material_downloaded", EVERYONE),
    "bookmarked": ("material_bookmarked", EVERYONE),
    "preferences": ("preferences_changed", EVERYONE),
    "medical_asked": ("question_asked", MEDICAL),
    "medical_answered": ("question_answered", MEDICAL),
    "medical_closed": ("question_closed", MEDICAL),
    "commercial_asked": ("question_asked", EVERYONE),
    "commercial_answered": ("question_answered", EVERYONE),
    "rep_invited": ("chat_invited", EVERYONE),
    "msl_invited": ("chat_invited", MEDICAL),
    "msl_chat_started": ("chat_started", frozenset({"msl", "compliance"})),
    "msl_chat_ended": ("chat_ended", frozenset({"msl", "compliance"})),
    "rep_chat_started": ("chat_started", frozenset({"rep", "compliance"})),
    "rep_shared": ("material_shared", EVERYONE),
    "msl_shared": ("material_shared", MEDICAL),
    "rep_meeting_requested": ("meeting_requested", EVERYONE),
    "rep_meeting_declined": ("meeting_declined", EVERYONE),
    "msl_meeting_requested": ("meeting_requested", MEDICAL),
    "msl_meeting_accepted": ("meeting_accepted", MEDICAL),
    "rep_call_note": ("call_note", EVERYONE),
    "msl_call_note": ("call_note", MEDICAL),
}
# Events a staff member did on the medical side: a commercial viewer sees the team, not the name.
MEDICAL_ACTS = {
    "medical_answered": "mi",
    "medical_closed": "mi",
    "msl_invited": "msl",
    "msl_shared": "msl",
    "msl_meeting_accepted": "msl",
    "msl_call_note": "msl",
}
TEAM_OF = {"mi": "Medical Information", "msl": "MSL team"}


@dataclasses.dataclass
class Record:
    hcp: User
    people: dict[str, User]
    at: dict[str, dt.datetime]
    materials: dict[str, Material]


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def seed_record() -> Record:
    """One HCP with an event of every kind, each at its own minute (newest: ``registered`` is
    the oldest, as in life)."""
    territory, elsewhere = make_territory(), make_territory()
    product = make_product()
    hcp = make_hcp(territory=territory, name="Dr. Avery Cole")
    people = {
        "rep": make_user(Role.REP, territories=[territory], products=[product], name="Jordan Lee"),
        "market_access": make_user(Role.MARKET_ACCESS, territories=[territory], name="Kim Access"),
        "msl": make_user(Role.MSL, territories=[territory], products=[product], name="Sam Medic"),
        "mi": make_user(Role.MEDICAL_INFORMATION, name="Mina Info"),
        "compliance": make_user(Role.COMPLIANCE, name="Casey Audit"),
        "other_rep": make_user(Role.REP, territories=[elsewhere], name="Otto Elsewhere"),
        "admin": make_user(Role.ADMIN, name="Ada Admin"),
        "hcp": hcp,
    }
    author = make_user(Role.CONTENT_MANAGER)
    materials = {
        "public": make_material(author, product=product, direct=True, title="Dosing guide"),
        "rep": make_material(author, product=product, direct=True, title="Access programme"),
        "msl": make_material(author, product=product, direct=True, title="Renal subgroup deck"),
    }
    start = utcnow() - dt.timedelta(days=1)
    labels = list(EXPECTED)
    at = {label: start - dt.timedelta(minutes=len(labels) - i) for i, label in enumerate(labels)}
    rep, msl, mi = people["rep"], people["msl"], people["mi"]

    hcp.created_at = at["registered"]
    assert hcp.hcp_profile is not None
    hcp.hcp_profile.verified_at = at["verified"]
    hcp.hcp_profile.verified_by = people["admin"]
    public = materials["public"]
    db.session.add_all(
        [
            MaterialEvent(material_id=public.id, family_id=public.family_id, user_id=hcp.id,
                          kind=EventKind.VIEW, at=at["viewed"]),
            MaterialEvent(material_id=public.id, family_id=public.family_id, user_id=hcp.id,
                          kind=EventKind.DOWNLOAD, at=at["downloaded"]),
            Bookmark(user_id=hcp.id, family_id=public.family_id, created_at=at["bookmarked"]),
        ]
    )  # fmt: skip
    db.session.commit()
    preferences.save(
        hcp,
        preferences.PreferencesInput(channels=["portal", "email", "chat", "visit"]),
        now=at["preferences"],
    )

    medical = ask(hcp, text=MEDICAL_QUESTION, category="dosing")
    commercial = ask(hcp, text=COMMERCIAL_QUESTION, category="samples")
    medical.created_at = at["medical_asked"]
    commercial.created_at = at["commercial_asked"]
    medical.status = QuestionStatus.CLOSED
    db.session.add_all(
        [
            QuestionEvent(question_id=medical.id, kind=QuestionEventKind.ANSWERED,
                          at=at["medical_answered"], actor_id=mi.id),
            QuestionEvent(question_id=medical.id, kind=QuestionEventKind.CLOSED,
                          at=at["medical_closed"], actor_id=mi.id),
            QuestionEvent(question_id=commercial.id, kind=QuestionEventKind.ANSWERED,
                          at=at["commercial_answered"], actor_id=rep.id),
            Invitation(hcp_id=hcp.id, staff_id=rep.id, note="Happy to chat about access",
                       created_at=at["rep_invited"]),
            Invitation(hcp_id=hcp.id, staff_id=msl.id, note=MSL_INVITE_NOTE,
                       created_at=at["msl_invited"]),
        ]
    )  # fmt: skip
    db.session.commit()

    with_msl = active_conversation(hcp, msl)
    with_rep = active_conversation(hcp, rep)
    for conversation, label in ((with_msl, "msl_chat_started"), (with_rep, "rep_chat_started")):
        period = db.session.scalars(
            select(ConsentPeriod).where(ConsentPeriod.conversation_id == conversation.id)
        ).one()
        period.granted_at = at[label]
        if conversation is with_msl:
            period.withdrawn_at = at["msl_chat_ended"]
            period.withdrawn_via = "conversation"
            conversation.state = ConversationState.ENDED
    db.session.add_all(
        [
            MaterialShare(hcp_id=hcp.id, staff_id=rep.id, side=Side.COMMERCIAL,
                          material_id=materials["rep"].id, family_id=materials["rep"].family_id,
                          note="For your patients", created_at=at["rep_shared"]),
            MaterialShare(hcp_id=hcp.id, staff_id=msl.id, side=Side.MEDICAL,
                          material_id=materials["msl"].id, family_id=materials["msl"].family_id,
                          note=MSL_SHARE_NOTE, created_at=at["msl_shared"]),
            Meeting(hcp_id=hcp.id, staff_id=rep.id, side=Side.COMMERCIAL, requested_by_id=rep.id,
                    mode=MeetingMode.VISIT, slots=[iso(start + dt.timedelta(days=3))],
                    topic="Access programme", state=MeetingState.DECLINED,
                    created_at=at["rep_meeting_requested"], decided_at=at["rep_meeting_declined"]),
            Meeting(hcp_id=hcp.id, staff_id=msl.id, side=Side.MEDICAL, requested_by_id=hcp.id,
                    mode=MeetingMode.VIDEO, slots=[iso(start + dt.timedelta(days=4))],
                    topic=MSL_TOPIC, state=MeetingState.ACCEPTED,
                    starts_at=start + dt.timedelta(days=4),
                    created_at=at["msl_meeting_requested"],
                    decided_at=at["msl_meeting_accepted"]),
            CallNote(hcp_id=hcp.id, author_id=rep.id, side=Side.COMMERCIAL,
                     kind=InteractionKind.VISIT, occurred_at=at["rep_call_note"],
                     summary=REP_NOTE),
            CallNote(hcp_id=hcp.id, author_id=msl.id, side=Side.MEDICAL,
                     kind=InteractionKind.PHONE, occurred_at=at["msl_call_note"],
                     summary=MSL_NOTE, follow_up="Send the renal data"),
            Contact(hcp_id=hcp.id, staff_id=rep.id, side=Side.COMMERCIAL, team="sales",
                    channel=ContactChannel.PORTAL, kind=ContactKind.MATERIAL_SHARE, counted=True,
                    at=utcnow() - dt.timedelta(days=3), subject="material_share", subject_id=1),
        ]
    )  # fmt: skip
    db.session.commit()
    return Record(hcp=hcp, people=people, at=at, materials=materials)


def find(events: list[dict[str, Any]], kind: str, at: dt.datetime) -> dict[str, Any] | None:
    found = [e for e in events if e["kind"] == kind and e["at"] == iso(at)]
    assert len(found) <= 1, found
    return found[0] if found else None


def everything(viewer: User, hcp: User, *, limit: int = timeline.MAX_LIMIT) -> list[timeline.Event]:
    """Every event of the record, page by page."""
    seen: list[timeline.Event] = []
    cursor = None
    for _ in range(10_000):
        page = timeline.events(viewer, hcp, before=cursor, limit=limit)
        seen.extend(page.events)
        if page.next is None:
            return seen
        assert len(page.events) == limit
        cursor = page.next
    raise AssertionError("the pages never ended")


# --- the firewall, at the service ----------------------------------------------------------------
@pytest.mark.parametrize("viewer", READERS)
def test_every_kind_is_on_the_record_with_content_only_for_those_who_may_read_it(app, viewer):
    record = seed_record()
    events = [e.as_json() for e in everything(record.people[viewer], record.hcp)]
    assert len(events) == len(EXPECTED)
    wrong = []
    for label, (kind, readers) in EXPECTED.items():
        event = find(events, kind, record.at[label])
        if event is None:
            wrong.append(f"{label}: missing")
        elif (event["detail"] is not None) != (viewer in readers):
            wrong.append(f"{label}: detail {'shown' if event['detail'] else 'null'}")
    assert not wrong, wrong
    kinds = {kind for kind, _readers in EXPECTED.values()}
    assert kinds == set(timeline.EventKind), "every kind is in the table"


@pytest.mark.parametrize("viewer", ["rep", "market_access"])
def test_the_commercial_side_sees_the_medical_side_as_team_and_date_only(app, viewer):
    record = seed_record()
    events = [e.as_json() for e in everything(record.people[viewer], record.hcp)]
    for label, who in MEDICAL_ACTS.items():
        event = find(events, EXPECTED[label][0], record.at[label])
        assert event is not None and event["detail"] is None, label
        assert event["actor"]["name"] == TEAM_OF[who], label
        assert event["actor"]["side"] == "medical"
    medical = find(events, "question_asked", record.at["medical_asked"])
    assert medical is not None
    assert medical["summary"] == "A question to Medical Information"
    assert medical["actor"] == {"name": "Dr. Avery Cole", "role": "hcp", "side": "outside"}
    chat = find(events, "chat_started", record.at["msl_chat_started"])
    assert chat is not None and chat["summary"] == "Chat with MSL team started"
    text = repr(events)
    for secret in (*MSL_SECRETS, record.people["msl"].name, record.people["mi"].name):
        assert secret not in text


def test_medical_roles_read_both_sides_in_full(app):
    record = seed_record()
    events = [e.as_json() for e in everything(record.people["msl"], record.hcp)]
    note = find(events, "call_note", record.at["rep_call_note"])
    assert note is not None
    assert note["detail"]["summary"] == REP_NOTE
    assert note["actor"] == {"name": "Jordan Lee", "role": "rep", "side": "commercial"}
    question = find(events, "question_asked", record.at["medical_asked"])
    assert question is not None and question["detail"]["text"] == MEDICAL_QUESTION


def test_a_rep_reads_commercial_questions_in_full(app):
    record = seed_record()
    events = [e.as_json() for e in everything(record.people["rep"], record.hcp)]
    question = find(events, "question_asked", record.at["commercial_asked"])
    assert question is not None and question["detail"]["text"] == COMMERCIAL_QUESTION


def test_a_chat_is_read_only_by_its_staff_participant_and_compliance(app):
    record = seed_record()
    for viewer, readable in (("rep", True), ("msl", False), ("mi", False), ("compliance", True)):
        events = [e.as_json() for e in everything(record.people[viewer], record.hcp)]
        chat = find(events, "chat_started", record.at["rep_chat_started"])
        assert chat is not None
        assert (chat["detail"] is not None) is readable, viewer
        # The rep's side is readable to the medical side: the colleague is named.
        assert "Jordan Lee" in chat["summary"]


@pytest.mark.parametrize("viewer", OUTSIDERS)
def test_an_hcp_and_another_territorys_rep_cannot_open_the_record(app, viewer):
    record = seed_record()
    with pytest.raises(NotFound):
        timeline.get_record(record.people[viewer], record.hcp.id)
    with pytest.raises(NotFound):
        timeline.events(record.people[viewer], record.hcp)


def test_staff_are_not_an_hcp_record(app):
    record = seed_record()
    with pytest.raises(NotFound):
        timeline.get_record(record.people["compliance"], record.people["rep"].id)


def test_json_times_are_utc_and_end_in_z(app):
    record = seed_record()
    page = timeline.events(record.people["compliance"], record.hcp).as_json()
    assert set(page) == {"events", "next"}
    for event in page["events"]:
        assert set(event) == {"at", "kind", "actor", "summary", "detail"}
        assert event["at"].endswith("Z")
        assert set(event["actor"]) == {"name", "role", "side"}
        assert event["actor"]["role"] in {r.value for r in Role}
    assert [e["at"] for e in page["events"]] == sorted(
        (e["at"] for e in page["events"]), reverse=True
    )


# --- paging --------------------------------------------------------------------------------------
def _ties(record: Record, moment: dt.datetime) -> None:
    """Many events of several kinds at one and the same moment."""
    hcp, public = record.hcp, record.materials["public"]
    for _ in range(7):
        db.session.add(
            MaterialEvent(material_id=public.id, family_id=public.family_id, user_id=hcp.id,
                          kind=EventKind.VIEW, at=moment)
        )  # fmt: skip
        db.session.add(
            MaterialEvent(material_id=public.id, family_id=public.family_id, user_id=hcp.id,
                          kind=EventKind.DOWNLOAD, at=moment)
        )  # fmt: skip
    for _ in range(4):
        db.session.add(
            CallNote(hcp_id=hcp.id, author_id=record.people["rep"].id, side=Side.COMMERCIAL,
                     kind=InteractionKind.PHONE, occurred_at=moment, summary="tie")
        )  # fmt: skip
    db.session.commit()


@pytest.mark.parametrize("limit", [1, 7, 50])
def test_paging_neither_skips_nor_repeats_events_at_the_same_moment(app, limit):
    record = seed_record()
    _ties(record, record.at["viewed"])
    _ties(record, record.at["rep_call_note"])
    compliance = record.people["compliance"]
    whole = timeline.events(compliance, record.hcp, limit=timeline.MAX_LIMIT)
    assert whole.next is None
    paged = everything(compliance, record.hcp, limit=limit)
    keys = [(e.at, e.kind, e.id) for e in paged]
    assert len(keys) == len(set(keys)) == len(EXPECTED) + 2 * 18
    assert keys == [(e.at, e.kind, e.id) for e in whole.events]
    assert keys == sorted(keys, key=lambda k: (k[0], k[1].value, k[2]), reverse=True)


def test_the_last_page_has_no_next_cursor(app):
    record = seed_record()
    page = timeline.events(record.people["rep"], record.hcp, limit=len(EXPECTED))
    assert page.next is None
    page = timeline.events(record.people["rep"], record.hcp, limit=len(EXPECTED) - 1)
    assert page.next is not None
    rest = timeline.events(record.people["rep"], record.hcp, before=page.next)
    assert [e.kind for e in rest.events] == [timeline.EventKind.REGISTERED]
    assert rest.next is None


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor",
        "%%%",
        _raw("not a cursor"),
        _raw("1|2026-01-01T00:00:00.000000Z|no_such_kind|1"),
        _raw("1|2026-01-01T00:00:00.000000Z|call_note|-1"),
        _raw("1|2026-01-01T00:00:00.000000Z|call_note|99999999999999999999999"),
        _raw("1|2026-13-01T00:00:00.000000Z|call_note|1"),
        _raw("9|2026-01-01T00:00:00.000000Z|call_note|1"),
        _raw("1|2026-01-01T00:00:00.000000Z|call_note"),
        "\u00e9t\u00e9",
        "x" * 500,
    ],
)
def test_a_cursor_that_is_not_ours_is_invalid_input(app, cursor):
    record = seed_record()
    with pytest.raises(InvalidInput):
        timeline.events(record.people["rep"], record.hcp, before=cursor)


def test_a_cursor_round_trips():
    cursor = timeline.Cursor(
        dt.datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=dt.UTC), timeline.EventKind.CALL_NOTE, 42
    )
    assert timeline.Cursor.decode(cursor.encode()) == cursor


def test_the_limit_is_bounded(app):
    record = seed_record()
    for limit in (0, timeline.MAX_LIMIT + 1):
        with pytest.raises(InvalidInput):
            timeline.events(record.people["rep"], record.hcp, limit=limit)


# --- chats per colleague -------------------------------------------------------------------------
def test_chats_name_the_colleague_only_to_those_who_may_see_their_side(app):
    record = seed_record()
    rep_view = {c.with_role: c for c in timeline.chats(record.people["rep"], record.hcp)}
    assert rep_view[Role.MSL].with_name == "MSL team" and not rep_view[Role.MSL].named
    assert not rep_view[Role.MSL].readable
    assert rep_view[Role.MSL].state is ConversationState.ENDED
    assert rep_view[Role.MSL].periods[0][1] == record.at["msl_chat_ended"]
    assert rep_view[Role.REP].readable and rep_view[Role.REP].mine
    msl_view = {c.with_role: c for c in timeline.chats(record.people["msl"], record.hcp)}
    assert msl_view[Role.REP].with_name == "Jordan Lee" and not msl_view[Role.REP].readable
    assert msl_view[Role.MSL].readable


def test_chats_of_an_hcp_without_any(app):
    territory = make_territory()
    hcp = make_hcp(territory=territory)
    rep = make_user(Role.REP, territories=[territory])
    assert timeline.chats(rep, hcp) == []
    assert db.session.scalar(select(Conversation).where(Conversation.hcp_id == hcp.id)) is None
