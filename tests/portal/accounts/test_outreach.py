"""Outreach on the HCP's terms: a material shared only when the colleague may share it and the HCP
may see it, and only as the contact rule allows; meetings asked for both ways, accepted with a
calendar invitation, declined, cancelled; the HCP's own request never blocked."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from typing import Any

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from content import services as content_services
from content.models import Classification
from portal.accounts import contact_rule, outreach, preferences
from portal.accounts.contact_rule import ContactRefused
from portal.accounts.models import (
    Contact,
    ContactChannel,
    ContactKind,
    MaterialShare,
    Meeting,
    MeetingMode,
    MeetingState,
)
from portal.errors import InvalidInput, NotFound, PermissionDenied
from portal.extensions import db
from portal.models import AuditRecord, Notification, OutboxMail, Role, User, Verification, utcnow
from portal.safety.models import PvCase
from portal.services import mail
from tests.conftest import login
from tests.content.factories import make_author, make_material
from tests.factories import make_hcp, make_product, make_territory, make_user

DAY = dt.timedelta(days=1)


# --- personas -------------------------------------------------------------------------------------
@pytest.fixture
def field(app: Any) -> dict[str, Any]:
    """One territory in Berlin: its HCP, a rep and an MSL covering the product; a rep of another
    territory; materials of every kind a share must tell apart."""
    territory = make_territory(country="DE")
    product = make_product(name="Cardiozol")
    hcp = make_hcp(country="DE", territory=territory, name="Dr. Cole")
    hcp.timezone = "Europe/Berlin"
    db.session.commit()
    author = make_author()
    people = {
        "hcp": hcp,
        "rep": make_user(Role.REP, territories=[territory], products=[product], name="Jordan Lee"),
        "msl": make_user(Role.MSL, territories=[territory], products=[product], name="Ana Ruiz"),
        "outsider": make_user(Role.REP, territories=[make_territory()], products=[product]),
        "compliance": make_user(Role.COMPLIANCE),
        "pending": make_hcp(country="DE", territory=territory, verification=Verification.PENDING),
        "promo": make_material(
            author, product=product, title="Cardiozol dosing card", direct=True,
            summary="SECRET-SUMMARY of the card", body_markdown="SECRET-BODY of the card",
        ),
        "medical": make_material(
            author, product=product, classification=Classification.MEDICAL.value, direct=True,
            title="Cardiozol study summary",
        ),
        "other_product": make_material(author, product=make_product(), direct=True),
        "off_audience": make_material(author, product=product, countries=["FR"], direct=True),
    }  # fmt: skip
    return people


def set_terms(hcp: User, channels: list[str], **values: Any) -> None:
    preferences.save(hcp, preferences.PreferencesInput(channels=channels, **values))
    db.session.commit()


def counts() -> tuple[int, ...]:
    """Shares, contacts, notifications, mail, meetings: what a refused action must leave as is."""
    return tuple(
        db.session.scalar(select(func.count()).select_from(model)) or 0
        for model in (MaterialShare, Contact, Notification, OutboxMail, Meeting)
    )


def audit_actions(action_prefix: str) -> list[str]:
    return list(
        db.session.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.action.startswith(action_prefix))
            .order_by(AuditRecord.id)
        )
    )


def mails_to(user: User) -> list[OutboxMail]:
    return list(db.session.scalars(select(OutboxMail).where(OutboxMail.to == user.email)))


def parse_ics(text: str) -> dict[str, list[str]]:
    """Unfold the lines (RFC 5545) and read ``NAME[;params]:value`` into ``{NAME: [lines]}``."""
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    unfolded = text.replace("\r\n ", "").split("\r\n")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    found: dict[str, list[str]] = {}
    for line in unfolded:
        if not line:
            continue
        name = line.split(":", 1)[0].split(";", 1)[0]
        found.setdefault(name, []).append(line)
    return found


def value(lines: dict[str, list[str]], name: str) -> str:
    return lines[name][0].split(":", 1)[1]


def future(days: float, hour: int = 10) -> dt.datetime:
    """A round hour ``days`` from now, UTC."""
    day = (utcnow() + dt.timedelta(days=days)).date()
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def meeting_input(*slots: dt.datetime, mode: str = "visit", **values: Any) -> Any:
    return outreach.MeetingInput(mode=mode, slots=list(slots), **values)


# --- sharing: both halves of the rule -------------------------------------------------------------
def test_rep_shares_a_promotional_material_and_the_hcp_is_told_in_the_portal(field):
    rep, hcp, promo = field["rep"], field["hcp"], field["promo"]

    share = outreach.share_material(rep, hcp.id, promo.id, note="As discussed on Tuesday.")

    assert (share.hcp_id, share.staff_id, share.family_id) == (hcp.id, rep.id, promo.family_id)
    contact = db.session.scalars(select(Contact)).one()
    assert (contact.kind, contact.channel, contact.counted) == (
        ContactKind.MATERIAL_SHARE, ContactChannel.PORTAL, True,
    )  # fmt: skip
    assert (contact.subject, contact.subject_id) == ("material_share", share.id)
    bell = db.session.scalars(select(Notification).where(Notification.user_id == hcp.id)).one()
    assert bell.url == "/outreach/shared" and "Jordan Lee" in bell.title
    assert "As discussed" not in bell.title
    # The company default accepts no e-mail: the portal message alone.
    assert mails_to(hcp) == [] and not share.emailed
    assert audit_actions("outreach.") == ["outreach.material_shared"]


@pytest.mark.parametrize(
    ("who", "material", "why"),
    [
        ("rep", "medical", "not available"),  # medical material: not even in the rep's library
        ("rep", "other_product", "do not cover"),  # a product the rep does not cover
        ("rep", "off_audience", "not meant for"),  # the HCP may not see it (another country)
        ("msl", "off_audience", "not meant for"),  # the HCP's half holds for medical roles too
    ],
)
def test_a_material_is_refused_unless_both_halves_hold_and_nothing_is_kept(
    field, who, material, why
):
    before = counts()

    with pytest.raises(InvalidInput) as refused:
        outreach.share_material(field[who], field["hcp"].id, field[material].id)

    assert refused.value.field == "material_id" and why in refused.value.message
    assert counts() == before


def test_msl_may_share_medical_material_the_hcp_may_see(field):
    share = outreach.share_material(field["msl"], field["hcp"].id, field["medical"].id)
    assert share.material_id == field["medical"].id


def test_a_withdrawn_material_cannot_be_shared(field):
    withdrawn = make_material(product=field["promo"].product, status="withdrawn")
    with pytest.raises(InvalidInput):
        outreach.share_material(field["rep"], field["hcp"].id, withdrawn.id)


@pytest.mark.parametrize("who", ["outsider", "compliance"])
def test_an_hcp_the_colleague_may_not_contact_does_not_exist_for_them(field, who):
    before = counts()
    with pytest.raises(NotFound):
        outreach.share_material(field[who], field["hcp"].id, field["promo"].id)
    with pytest.raises(NotFound):
        outreach.share_material(field["rep"], field["pending"].id, field["promo"].id)
    assert counts() == before


def test_the_share_list_offers_exactly_what_may_be_shared_and_searches_titles(field):
    rep, hcp = field["rep"], field["hcp"]

    listed = outreach.shareable_materials(rep, hcp)
    assert [m.id for m in listed.items] == [field["promo"].id]
    assert all(
        content_services.policy.can_share_material_with(rep, m, hcp, utcnow()) for m in listed.items
    )
    msl_ids = {m.id for m in outreach.shareable_materials(field["msl"], hcp).items}
    assert msl_ids == {field["promo"].id, field["medical"].id}
    assert outreach.shareable_materials(field["msl"], hcp, q="STUDY").total == 1
    assert outreach.shareable_materials(field["msl"], hcp, q="nothing like it").total == 0


@pytest.mark.parametrize("rule", ["cap", "channel", "min_gap"])
def test_a_share_the_contact_rule_refuses_keeps_nothing_and_sends_nothing(field, rule):
    rep, msl, hcp = field["rep"], field["msl"], field["hcp"]
    now = utcnow()
    if rule == "cap":
        set_terms(hcp, ["portal", "email"], cap=2)
        for days in (9, 5):
            contact_rule.claim(
                msl, hcp, ContactChannel.PORTAL, kind=ContactKind.CALL, subject="test",
                subject_id=None, at=now - days * DAY,
            )  # fmt: skip
    elif rule == "channel":
        set_terms(hcp, ["email", "visit"])
    else:
        set_terms(hcp, ["portal", "email"])
        contact_rule.claim(
            msl, hcp, ContactChannel.PORTAL, kind=ContactKind.CALL, subject="test",
            subject_id=None, at=now - DAY,
        )  # fmt: skip
    db.session.commit()
    before = counts()

    with pytest.raises(ContactRefused) as refused:
        outreach.share_material(rep, hcp.id, field["promo"].id, now=now)

    assert refused.value.decision.rule == rule
    assert counts() == before  # no share, no contact, no notification, no mail
    assert audit_actions("contact.refused") == ["contact.refused"]


def test_the_hcp_who_accepts_email_gets_the_title_and_a_link_never_the_content(field):
    rep, hcp, promo = field["rep"], field["hcp"], field["promo"]
    set_terms(hcp, ["portal", "email"])

    share = outreach.share_material(rep, hcp.id, promo.id, note="PRIVATE-NOTE for you")

    [sent] = mails_to(hcp)
    assert share.emailed
    assert promo.title in sent.body and f"/library/family/{promo.family_id}" in sent.body
    for secret in ("SECRET-SUMMARY", "SECRET-BODY", "PRIVATE-NOTE"):
        assert secret not in sent.body and secret not in sent.subject
    assert sent.attachment is None


def test_the_share_email_is_written_in_the_hcps_language(field):
    hcp = field["hcp"]
    hcp.locale = "de"
    db.session.commit()
    set_terms(hcp, ["portal", "email"])

    outreach.share_material(field["rep"], hcp.id, field["promo"].id)

    with force_locale("de"):
        greeting = gettext("Hello %(name)s,", name=hcp.name)
    assert greeting != f"Hello {hcp.name},"  # the German catalogue has it
    [sent] = mails_to(hcp)
    assert sent.body.startswith(greeting)


# --- sharing through the page ---------------------------------------------------------------------
def test_the_share_page_shows_who_is_in_touch_and_the_hcps_terms(client, field):
    rep, msl, hcp = field["rep"], field["msl"], field["hcp"]
    contact_rule.claim(
        msl, hcp, ContactChannel.VISIT, kind=ContactKind.CALL, subject="test", subject_id=None,
        at=utcnow() - 5 * DAY,
    )  # fmt: skip
    db.session.commit()
    login(client, rep.email)

    page = client.get(f"/outreach/hcps/{hcp.id}/share").get_data(as_text=True)

    assert 'data-testid="contact-warning"' in page
    # The MSL is on the other side of the firewall: the rep learns the team and the date only.
    assert "contacted Dr. Cole on" in page and "Ana Ruiz" not in page
    assert 'data-testid="cap-use">1 of 4' in page
    assert field["promo"].title in page and field["medical"].title not in page
    assert field["off_audience"].title not in page


def test_sharing_through_the_page(client, field):
    rep, hcp, promo = field["rep"], field["hcp"], field["promo"]
    login(client, rep.email)

    response = client.post(
        f"/outreach/hcps/{hcp.id}/share", data={"material_id": promo.id, "note": "Hello"}
    )

    assert response.status_code == 302
    assert db.session.scalars(select(MaterialShare)).one().note == "Hello"


def test_a_refusal_by_the_rule_is_shown_on_the_form_with_409_and_the_note_kept(client, field):
    rep, hcp = field["rep"], field["hcp"]
    set_terms(hcp, ["email"])
    login(client, rep.email)
    before = counts()

    response = client.post(
        f"/outreach/hcps/{hcp.id}/share",
        data={"material_id": field["promo"].id, "note": "My kept note"},
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "does not accept unsolicited contact by Portal message" in page
    assert "My kept note" in page
    assert counts() == before


def test_the_share_page_of_someone_elses_hcp_is_404(client, field):
    login(client, field["outsider"].email)
    assert client.get(f"/outreach/hcps/{field['hcp'].id}/share").status_code == 404
    assert (
        client.post(
            f"/outreach/hcps/{field['hcp'].id}/share", data={"material_id": field["promo"].id}
        ).status_code
        == 404
    )


# --- what the HCP sees ----------------------------------------------------------------------------
def test_shared_with_me_lists_newest_first_with_who_shared_and_what_was_opened(client, field):
    rep, msl, hcp = field["rep"], field["msl"], field["hcp"]
    now = utcnow()
    first = outreach.share_material(msl, hcp.id, field["medical"].id, now=now - 10 * DAY)
    second = outreach.share_material(rep, hcp.id, field["promo"].id, now=now - 5 * DAY)
    content_services.record_view(hcp, field["medical"])  # opened after the share
    login(client, hcp.email)

    page = client.get("/outreach/shared").get_data(as_text=True)

    assert page.index(f'data-share-id="{second.id}"') < page.index(f'data-share-id="{first.id}"')
    assert "Jordan Lee" in page and "Ana Ruiz" in page
    items = outreach.shared_with_me(hcp).items
    assert [(i.share.id, i.opened) for i in items] == [(second.id, False), (first.id, True)]


def test_a_view_before_the_share_is_not_an_open(field):
    hcp, promo = field["hcp"], field["promo"]
    content_services.record_view(hcp, promo)
    db.session.commit()
    outreach.share_material(field["rep"], hcp.id, promo.id, now=utcnow() + dt.timedelta(seconds=5))
    [item] = outreach.shared_with_me(hcp).items
    assert not item.opened


def test_a_material_withdrawn_since_shows_as_no_longer_available(client, field):
    rep, hcp = field["rep"], field["hcp"]
    author = make_author()
    material = make_material(
        author, product=field["promo"].product, title="Soon withdrawn",
        summary="WITHDRAWN-SUMMARY",
    )  # fmt: skip
    outreach.share_material(rep, hcp.id, material.id)
    content_services.withdraw_material(author, material, reason="Outdated.")
    login(client, hcp.email)

    page = client.get("/outreach/shared").get_data(as_text=True)

    assert "Soon withdrawn" in page and 'data-available="no"' in page
    assert 'data-testid="unavailable"' in page
    assert "WITHDRAWN-SUMMARY" not in page and f"/library/family/{material.family_id}" not in page


@pytest.mark.parametrize("who", ["rep", "pending", "compliance"])
def test_shared_with_me_is_the_verified_hcps_page_only(client, field, who):
    login(client, field[who].email)
    assert client.get("/outreach/shared").status_code == 404


# --- meetings: the HCP asks -----------------------------------------------------------------------
def _local(moment: dt.datetime, zone: str = "Europe/Berlin") -> str:
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def test_the_hcp_asks_for_a_meeting_in_their_own_zone_even_at_their_cap(client, field):
    rep, msl, hcp = field["rep"], field["msl"], field["hcp"]
    set_terms(hcp, ["email"], cap=0)  # accepts no portal, phone or visit; a cap of zero
    login(client, hcp.email)
    first, second = future(3, hour=9), future(4, hour=13)

    form = client.get(f"/outreach/meetings/request?staff={msl.id}").get_data(as_text=True)
    response = client.post(
        "/outreach/meetings/request",
        data={
            "staff_id": msl.id, "mode": "phone", "slot_1": _local(second),
            "slot_2": _local(first), "slot_3": "", "topic": "Titration questions",
        },
    )  # fmt: skip

    assert "Europe/Berlin" in form
    assert response.status_code == 302, response.get_data(as_text=True)
    meeting = db.session.scalars(select(Meeting)).one()
    assert (meeting.staff_id, meeting.requested_by_id, meeting.mode) == (
        msl.id, hcp.id, MeetingMode.PHONE,
    )  # fmt: skip
    assert outreach.slot_times(meeting) == [first, second]  # UTC, earliest first
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0
    bell = db.session.scalars(select(Notification).where(Notification.user_id == msl.id)).one()
    assert "Dr. Cole" in bell.title and "Titration" not in bell.title
    assert audit_actions("meeting.") == ["meeting.requested"]
    assert rep.id != meeting.staff_id


def test_a_time_the_clocks_skip_is_refused_clearly(client, field):
    hcp, msl = field["hcp"], field["msl"]
    login(client, hcp.email)
    before = counts()

    response = client.post(
        "/outreach/meetings/request",
        data={"staff_id": msl.id, "mode": "video", "slot_1": "2027-03-28T02:30"},
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "does not exist in Europe/Berlin" in page
    assert counts() == before


@pytest.mark.parametrize(
    ("slots", "field_name", "message"),
    [
        ([], "slot_1", "at least one"),
        ([-1], "slot_1", "future"),
        ([91], "slot_1", "90 days"),
        ([2, 2], "slot_2", "already"),
    ],
)
def test_proposed_times_are_future_within_90_days_and_distinct(field, slots, field_name, message):
    data = meeting_input(*(future(d) for d in slots), staff_id=field["msl"].id)
    with pytest.raises(InvalidInput) as refused:
        outreach.request_meeting(field["hcp"], data)
    assert message in refused.value.errors[field_name]


def test_an_hcp_may_ask_only_their_own_team(field):
    with pytest.raises(InvalidInput) as refused:
        outreach.request_meeting(
            field["hcp"], meeting_input(future(2), staff_id=field["outsider"].id)
        )
    assert "staff_id" in refused.value.errors


def test_staff_accept_an_hcps_request_and_both_get_the_calendar_invitation(client, field):
    hcp, msl = field["hcp"], field["msl"]
    chosen = future(5, hour=14)
    meeting = outreach.request_meeting(
        hcp, meeting_input(future(4), chosen, mode="video", staff_id=msl.id,
                           topic="Off-label use in pregnancy")
    )  # fmt: skip
    login(client, msl.email)

    page = client.get("/outreach/meetings").get_data(as_text=True)
    response = client.post(
        f"/outreach/meetings/{meeting.id}/accept", data={"slot": chosen.isoformat()}
    )

    assert 'data-testid="accept-form"' in page
    assert response.status_code == 302
    meeting = db.session.get(Meeting, meeting.id)
    assert meeting.state is MeetingState.ACCEPTED and meeting.starts_at == chosen
    contact = db.session.scalars(select(Contact)).one()
    assert (contact.kind, contact.counted, contact.staff_id) == (ContactKind.MEETING, False, msl.id)
    for person in (hcp, msl):
        [sent] = [m for m in mails_to(person) if m.attachment is not None]
        assert sent.attachment_type == "text/calendar; method=REQUEST"
        assert "pregnancy" not in sent.body and "pregnancy" not in sent.subject
        lines = parse_ics(sent.attachment or "")
        assert value(lines, "METHOD") == "REQUEST"
        assert value(lines, "UID") == f"meeting-{meeting.id}@portal.test"
        assert value(lines, "DTSTART") == chosen.strftime("%Y%m%dT%H%M%SZ")
        assert value(lines, "DTEND") == (chosen + 30 * dt.timedelta(minutes=1)).strftime(
            "%Y%m%dT%H%M%SZ"
        )
        summary = value(lines, "SUMMARY")
        assert "Dr. Cole" in summary and "Ana Ruiz" in summary and "pregnancy" not in summary
        assert "pregnancy" not in (sent.attachment or "")
        assert lines["ORGANIZER"][0].endswith(f"mailto:{msl.email}")
        assert {a.rsplit("mailto:", 1)[1] for a in lines["ATTENDEE"]} == {hcp.email, msl.email}
        titles = db.session.scalars(
            select(Notification.title).where(Notification.user_id == person.id)
        ).all()
        assert any("booked" in t for t in titles)
    assert audit_actions("meeting.") == ["meeting.requested", "meeting.accepted"]


def test_the_calendar_attachment_is_sent_over_smtp(app, field, monkeypatch):
    sent: list[Any] = []

    class FakeSMTP:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def __enter__(self) -> FakeSMTP:
            return self

        def __exit__(self, *args: Any) -> None:
            return None

        def starttls(self) -> None:
            pass

        def login(self, *args: Any) -> None:
            pass

        def send_message(self, message: Any) -> None:
            sent.append(email.message_from_bytes(message.as_bytes(), policy=email.policy.default))

    monkeypatch.setattr(mail.smtplib, "SMTP", FakeSMTP)
    app.config.update(MAIL_SERVER="smtp.test", MAIL_PORT=25)
    meeting = outreach.request_meeting(
        field["hcp"], meeting_input(future(3), staff_id=field["msl"].id)
    )
    outreach.accept_meeting(field["msl"], meeting.id, slot=meeting.slots[0])
    mail.send_pending()

    invitations = [m for m in sent if m.get_content_type() == "multipart/mixed"]
    assert len(invitations) == 2
    [part] = [p for p in invitations[0].iter_attachments()]
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "REQUEST" and part.get_filename() == "meeting.ics"
    assert "BEGIN:VCALENDAR" in part.get_content()


def test_the_one_who_asked_cannot_accept_and_strangers_get_404(client, field):
    hcp, msl, rep = field["hcp"], field["msl"], field["rep"]
    meeting = outreach.request_meeting(hcp, meeting_input(future(3), staff_id=msl.id))
    with pytest.raises(PermissionDenied):
        outreach.accept_meeting(hcp, meeting.id, slot=meeting.slots[0])
    with pytest.raises(NotFound):
        outreach.accept_meeting(rep, meeting.id, slot=meeting.slots[0])

    login(client, rep.email)
    assert client.post(f"/outreach/meetings/{meeting.id}/accept").status_code == 404
    assert client.post(f"/outreach/meetings/{meeting.id}/cancel").status_code == 404
    assert client.get(f"/outreach/meetings/{meeting.id}.ics").status_code == 404
    client.post("/logout")
    login(client, hcp.email)
    response = client.post(
        f"/outreach/meetings/{meeting.id}/accept", data={"slot": meeting.slots[0]}
    )
    assert response.status_code == 403
    assert client.get(f"/outreach/meetings/{meeting.id}.ics").status_code == 404  # not booked
    assert db.session.get(Meeting, meeting.id).state is MeetingState.REQUESTED


def test_a_time_that_was_not_proposed_or_has_passed_is_refused(field):
    hcp, msl = field["hcp"], field["msl"]
    meeting = outreach.request_meeting(hcp, meeting_input(future(3), staff_id=msl.id))
    with pytest.raises(InvalidInput):
        outreach.accept_meeting(msl, meeting.id, slot=future(4).isoformat())
    later = future(3) + DAY
    with pytest.raises(Exception, match="passed"):
        outreach.accept_meeting(msl, meeting.id, slot=meeting.slots[0], now=later)
    assert db.session.get(Meeting, meeting.id).state is MeetingState.REQUESTED


# --- meetings: staff propose ----------------------------------------------------------------------
def test_a_proposal_the_rule_refuses_keeps_the_form_and_saves_nothing(client, field):
    rep, hcp = field["rep"], field["hcp"]  # phone is not among the default channels
    login(client, rep.email)
    before = counts()

    response = client.post(
        f"/outreach/hcps/{hcp.id}/meeting",
        data={"mode": "phone", "slot_1": _local(future(3), "UTC"), "topic": "Kept topic"},
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "does not accept unsolicited contact by Phone call" in page
    assert "Kept topic" in page
    assert counts() == before
    assert audit_actions("contact.refused") == ["contact.refused"]


def test_staff_propose_within_the_rule_and_the_hcp_accepts(client, field):
    rep, hcp = field["rep"], field["hcp"]
    login(client, rep.email)
    slot = future(6, hour=8)

    page = client.get(f"/outreach/hcps/{hcp.id}/meeting").get_data(as_text=True)
    response = client.post(
        f"/outreach/hcps/{hcp.id}/meeting",
        data={"mode": "visit", "slot_1": _local(slot, "UTC"), "topic": "New formulary"},
    )

    assert 'data-channel="visit"' in page and 'data-channel="phone"' in page
    assert response.status_code == 302, response.get_data(as_text=True)
    meeting = db.session.scalars(select(Meeting)).one()
    proposal = db.session.scalars(select(Contact)).one()
    assert (proposal.kind, proposal.channel, proposal.counted) == (
        ContactKind.MEETING_PROPOSAL, ContactChannel.VISIT, True,
    )  # fmt: skip
    assert mails_to(hcp) == []  # the HCP accepts no e-mail: the bell only

    client.post("/logout")
    login(client, hcp.email)
    hcp_page = client.get("/outreach/meetings").get_data(as_text=True)
    client.post(f"/outreach/meetings/{meeting.id}/accept", data={"slot": meeting.slots[0]})

    assert "Jordan Lee" in hcp_page and 'data-testid="accept-form"' in hcp_page
    assert db.session.get(Meeting, meeting.id).state is MeetingState.ACCEPTED
    assert len(mails_to(hcp)) == 1 and len(mails_to(rep)) == 1
    ics = client.get(f"/outreach/meetings/{meeting.id}.ics")
    assert ics.status_code == 200 and ics.mimetype == "text/calendar"
    assert value(parse_ics(ics.get_data(as_text=True)), "METHOD") == "REQUEST"


def test_the_hcp_declines_a_proposal_and_the_colleague_is_told(client, field):
    rep, hcp = field["rep"], field["hcp"]
    meeting = outreach.propose_meeting(rep, hcp.id, meeting_input(future(2)))
    login(client, hcp.email)

    response = client.post(f"/outreach/meetings/{meeting.id}/decline")

    assert response.status_code == 302
    assert db.session.get(Meeting, meeting.id).state is MeetingState.DECLINED
    told = db.session.scalars(select(Notification.title).where(Notification.user_id == rep.id))
    assert any("declined" in t for t in told)
    # Answered: a second answer is refused, not a crash.
    assert client.post(f"/outreach/meetings/{meeting.id}/decline").status_code == 302


def test_cancelling_a_booked_meeting_sends_the_calendar_cancellation(client, field):
    hcp, msl = field["hcp"], field["msl"]
    meeting = outreach.request_meeting(hcp, meeting_input(future(3), staff_id=msl.id))
    outreach.accept_meeting(msl, meeting.id, slot=meeting.slots[0])
    login(client, hcp.email)

    response = client.post(f"/outreach/meetings/{meeting.id}/cancel")

    assert response.status_code == 302
    assert db.session.get(Meeting, meeting.id).state is MeetingState.CANCELLED
    for person in (hcp, msl):
        booked, cancelled = [m for m in mails_to(person) if m.attachment is not None]
        assert cancelled.attachment_type == "text/calendar; method=CANCEL"
        lines, first = parse_ics(cancelled.attachment or ""), parse_ics(booked.attachment or "")
        assert value(lines, "METHOD") == "CANCEL" and value(lines, "STATUS") == "CANCELLED"
        assert value(lines, "UID") == value(first, "UID")
        assert int(value(lines, "SEQUENCE")) > int(value(first, "SEQUENCE"))
    assert audit_actions("meeting.")[-1] == "meeting.cancelled"
    # Cancelled already: refused (flashed), not a crash.
    assert client.post(f"/outreach/meetings/{meeting.id}/cancel").status_code == 302


def test_a_withdrawn_proposal_tells_the_hcp_in_the_portal_only_unless_they_accept_email(field):
    rep, hcp = field["rep"], field["hcp"]
    meeting = outreach.propose_meeting(rep, hcp.id, meeting_input(future(2)))

    outreach.cancel_meeting(rep, meeting.id)

    titles = db.session.scalars(select(Notification.title).where(Notification.user_id == hcp.id))
    assert any("cancelled" in t for t in titles)
    assert mails_to(hcp) == []  # the company default accepts no e-mail
    assert db.session.get(Meeting, meeting.id).state is MeetingState.CANCELLED


def test_proposing_to_an_hcp_of_another_territory_is_404(client, field):
    login(client, field["outsider"].email)
    assert client.get(f"/outreach/hcps/{field['hcp'].id}/meeting").status_code == 404
    with pytest.raises(NotFound):
        outreach.propose_meeting(field["outsider"], field["hcp"].id, meeting_input(future(2)))


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ("rep", "/outreach/meetings/request", 404),  # the HCP's form
        ("pending", "/outreach/meetings/request", 404),
        ("pending", "/outreach/meetings", 404),
        ("compliance", "/outreach/meetings", 404),
        ("rep", "/outreach/meetings", 200),
        ("hcp", "/outreach/meetings", 200),
    ],
)
def test_who_has_the_meeting_pages(client, field, who, path, status):
    login(client, field[who].email)
    assert client.get(path).status_code == status


def test_the_meetings_page_puts_what_waits_for_the_reader_first(client, field):
    hcp, msl = field["hcp"], field["msl"]
    booked = outreach.request_meeting(hcp, meeting_input(future(2), staff_id=msl.id))
    outreach.accept_meeting(msl, booked.id, slot=booked.slots[0])
    proposed = outreach.propose_meeting(msl, hcp.id, meeting_input(future(9)))
    login(client, hcp.email)

    page = client.get("/outreach/meetings").get_data(as_text=True)

    assert page.index(f'data-meeting-id="{proposed.id}"') < page.index(
        f'data-meeting-id="{booked.id}"'
    )
    assert f"/outreach/meetings/{booked.id}.ics" in page


def test_an_hcp_cannot_flood_colleagues_with_requests(field):
    hcp, msl = field["hcp"], field["msl"]
    for day in range(outreach.MAX_WAITING_REQUESTS):
        outreach.request_meeting(hcp, meeting_input(future(day + 1), staff_id=msl.id))
    with pytest.raises(Exception, match="waiting"):
        outreach.request_meeting(hcp, meeting_input(future(20), staff_id=msl.id))


def test_a_possible_adverse_event_in_a_meeting_request_reaches_pv(client, field):
    hcp, msl = field["hcp"], field["msl"]
    words = "My patient was hospitalised with liver failure after starting the drug"

    meeting = outreach.request_meeting(hcp, meeting_input(future(3), staff_id=msl.id, topic=words))
    outreach.request_meeting(hcp, meeting_input(future(4), staff_id=msl.id, topic="Formulary"))

    [case] = db.session.scalars(select(PvCase)).all()
    assert (case.source, case.reporter_id, case.source_text) == ("meeting", hcp.id, words)
    assert case.source_ref == f"M-{meeting.id:06d}"
    login(client, make_user(Role.PHARMACOVIGILANCE).email)
    page = client.get(f"/safety/cases/{case.id}").get_data(as_text=True)
    assert f'href="/hcps/{hcp.id}"' in page and "Meeting request" in page
