"""The one contact rule: the HCP's channels, pause, quiet hours (in their zone), the company's
minimum gap and the HCP's company-wide cap; never in the way of the HCP's own contact."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from chat import consent
from chat.models import Invitation
from portal.accounts import contact_rule, preferences
from portal.accounts.contact_rule import ContactRefused
from portal.accounts.models import Contact, ContactChannel, ContactKind
from portal.extensions import db
from portal.models import AuditRecord, Role, User
from portal.unit_of_work import unit_of_work
from tests.factories import make_hcp, make_territory, make_user

T0 = dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.UTC)


def utc(day: int, hour: int, minute: int) -> dt.datetime:
    """A moment of October 2026, in UTC."""
    return dt.datetime(
        2026, 10, day, hour, minute, tzinfo=dt.UTC
    )  # a Monday afternoon, in every zone's day


@pytest.fixture
def field(app: Any) -> dict[str, User]:
    """One territory: its HCP (in Berlin), two reps, an MSL; a rep of another territory."""
    territory = make_territory(country="DE")
    elsewhere = make_territory(country="DE")
    hcp = make_hcp(country="DE", territory=territory, name="Dr. Cole")
    hcp.timezone = "Europe/Berlin"
    db.session.commit()
    return {
        "hcp": hcp,
        "rep": make_user(Role.REP, territories=[territory], name="Jordan Lee"),
        "rep2": make_user(Role.REP, territories=[territory]),
        "msl": make_user(Role.MSL, territories=[territory]),
        "outsider": make_user(Role.REP, territories=[elsewhere]),
        "compliance": make_user(Role.COMPLIANCE),
    }


def claim(staff: User, hcp: User, at: dt.datetime, channel: ContactChannel = ContactChannel.PORTAL,
          **kwargs: Any) -> Contact:  # fmt: skip
    contact = contact_rule.claim(
        staff, hcp, channel, kind=ContactKind.MATERIAL_SHARE, subject="test", subject_id=None,
        at=at, **kwargs,
    )  # fmt: skip
    db.session.commit()
    return contact


def set_terms(hcp: User, **values: Any) -> None:
    data = preferences.PreferencesInput(
        channels=values.pop("channels", ["portal", "chat", "visit"]), **values
    )
    preferences.save(hcp, data)


def counted(hcp: User) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Contact).where(Contact.hcp_id == hcp.id)
    ) or 0  # fmt: skip


def test_a_first_contact_is_allowed_on_the_company_defaults(field):
    decision = contact_rule.check(field["rep"], field["hcp"], ContactChannel.PORTAL, at=T0)

    assert decision.allowed and decision.rule == contact_rule.ALLOWED
    assert (decision.used, decision.cap) == (0, 4)
    assert decision.next_allowed_at == T0


def test_the_cap_is_shared_by_colleagues_and_frees_up_exactly_30_days_after_the_oldest(field):
    hcp = field["hcp"]
    colleagues = [field["rep"], field["rep2"], field["msl"], field["rep"]]
    for day, colleague in zip((0, 2, 4, 6), colleagues, strict=True):
        claim(colleague, hcp, T0 + dt.timedelta(days=day))

    at_cap = contact_rule.check(
        field["rep2"], hcp, ContactChannel.PORTAL, at=T0 + dt.timedelta(days=9)
    )
    assert not at_cap.allowed and at_cap.rule == contact_rule.CAP
    assert (at_cap.used, at_cap.cap) == (4, 4)
    assert at_cap.next_allowed_at == T0 + dt.timedelta(days=30)
    assert "4" in at_cap.reason and "Dr. Cole" in at_cap.reason

    one_second_early = T0 + dt.timedelta(days=30) - dt.timedelta(seconds=1)
    assert not contact_rule.check(
        field["msl"], hcp, ContactChannel.PORTAL, at=one_second_early
    ).allowed
    on_time = contact_rule.check(
        field["msl"], hcp, ContactChannel.PORTAL, at=T0 + dt.timedelta(days=30)
    )
    assert on_time.allowed and on_time.used == 3


def test_a_refused_claim_saves_nothing(field):
    hcp = field["hcp"]
    for day in (0, 2, 4, 6):
        claim(field["rep"], hcp, T0 + dt.timedelta(days=day))

    with pytest.raises(ContactRefused) as refused:
        claim(field["msl"], hcp, T0 + dt.timedelta(days=10))

    db.session.rollback()
    assert refused.value.decision.rule == contact_rule.CAP
    assert counted(hcp) == 4


def test_colleagues_keep_the_company_gap_between_contacts(field, app):
    hcp = field["hcp"]
    claim(field["rep"], hcp, T0)

    too_soon = contact_rule.check(
        field["msl"], hcp, ContactChannel.VISIT, at=T0 + dt.timedelta(days=1)
    )
    assert not too_soon.allowed and too_soon.rule == contact_rule.MIN_GAP
    assert too_soon.next_allowed_at == T0 + dt.timedelta(days=app.config["CONTACT_MIN_GAP_DAYS"])
    later = contact_rule.check(field["msl"], hcp, ContactChannel.VISIT, at=too_soon.next_allowed_at)
    assert later.allowed


@pytest.mark.parametrize(
    ("channel", "allowed"),
    [
        (ContactChannel.PORTAL, True),
        (ContactChannel.CHAT, True),
        (ContactChannel.VISIT, True),
        (ContactChannel.EMAIL, False),
        (ContactChannel.PHONE, False),
    ],
)
def test_only_the_channels_the_hcp_accepts_by_default(field, channel, allowed):
    decision = contact_rule.check(field["rep"], field["hcp"], channel, at=T0)

    assert decision.allowed is allowed
    if not allowed:
        assert decision.rule == contact_rule.CHANNEL
        assert decision.next_allowed_at is None


def test_a_channel_the_hcp_removed_is_refused_at_once(field):
    set_terms(field["hcp"], channels=["portal"])

    decision = contact_rule.check(field["rep"], field["hcp"], ContactChannel.VISIT, at=T0)

    assert decision.rule == contact_rule.CHANNEL
    assert "Visit or video call" in decision.reason


def test_a_pause_refuses_every_colleague_until_it_ends(field):
    hcp = field["hcp"]
    set_terms(hcp, pause_weeks=2)
    paused_until = preferences.current(hcp).paused_until
    assert paused_until is not None

    decision = contact_rule.check(field["msl"], hcp, ContactChannel.PORTAL)

    assert decision.rule == contact_rule.PAUSED
    assert decision.next_allowed_at == paused_until
    assert contact_rule.check(field["msl"], hcp, ContactChannel.PORTAL, at=paused_until).allowed


def test_a_cap_of_zero_means_no_unsolicited_contact_at_all(field):
    set_terms(field["hcp"], cap=0)

    decision = contact_rule.check(field["rep"], field["hcp"], ContactChannel.PORTAL, at=T0)

    assert decision.rule == contact_rule.CAP
    assert decision.next_allowed_at is None


# Berlin leaves summer time on Sunday 25 Oct 2026 at 03:00 local (01:00 UTC): quiet hours from
# 20:00 to 08:00 local end at 06:00 UTC before the change and at 07:00 UTC after it.
@pytest.mark.parametrize(
    ("at", "quiet", "ends"),
    [
        (utc(24, 5, 30), True, utc(24, 6, 0)),
        (utc(24, 6, 0), False, None),
        (utc(25, 6, 30), True, utc(25, 7, 0)),
        (utc(26, 6, 30), True, utc(26, 7, 0)),
        (utc(26, 7, 0), False, None),
        (utc(24, 18, 0), True, utc(25, 7, 0)),
        (utc(26, 18, 59), False, None),
        (utc(26, 19, 0), True, utc(27, 7, 0)),
    ],
)  # fmt: skip
def test_quiet_hours_follow_the_hcps_clock_across_a_dst_change(field, at, quiet, ends):
    set_terms(field["hcp"], quiet_start="20:00", quiet_end="08:00")

    decision = contact_rule.check(field["rep"], field["hcp"], ContactChannel.PORTAL, at=at)

    assert decision.allowed is not quiet
    if quiet:
        assert decision.rule == contact_rule.QUIET_HOURS
        assert decision.next_allowed_at == ends
        assert "Europe/Berlin" in decision.reason


def test_the_next_possible_time_satisfies_every_part_of_the_rule(field):
    hcp = field["hcp"]
    set_terms(hcp, quiet_start="20:00", quiet_end="08:00", cap=1)
    claim(field["rep"], hcp, T0)

    decision = contact_rule.check(
        field["msl"], hcp, ContactChannel.PORTAL, at=T0 + dt.timedelta(days=1)
    )

    assert decision.rule == contact_rule.MIN_GAP
    next_at = decision.next_allowed_at
    assert next_at is not None and next_at >= T0 + dt.timedelta(days=30)
    assert contact_rule.check(field["msl"], hcp, ContactChannel.PORTAL, at=next_at).allowed


def test_answering_the_hcp_is_never_blocked_and_uses_no_cap(field):
    hcp = field["hcp"]
    set_terms(hcp, cap=0, pause_weeks=4, channels=[])

    contact = claim(field["msl"], hcp, T0, ContactChannel.PHONE, solicited=True)

    assert contact.counted is False
    assert contact_rule.check(field["rep"], hcp, ContactChannel.PORTAL, at=T0).used == 0


def test_the_hcps_own_chat_is_never_blocked(field):
    hcp = field["hcp"]
    set_terms(hcp, cap=0, pause_weeks=4, channels=[])

    conversation = consent.start_chat(hcp, field["msl"].id, wording_id=consent.consent_wording().id)

    assert conversation.state.value == "active"


def test_only_the_hcps_own_field_team_may_contact_them(field):
    decision = contact_rule.check(field["outsider"], field["hcp"], ContactChannel.PORTAL, at=T0)

    assert not decision.allowed and decision.rule == contact_rule.NOT_YOURS
    assert not contact_rule.check(field["compliance"], field["hcp"], ContactChannel.PORTAL).allowed


def test_a_refused_invitation_leaves_no_invitation_and_an_audited_refusal(field):
    hcp = field["hcp"]
    set_terms(hcp, channels=["portal"])

    with pytest.raises(ContactRefused):
        consent.invite(field["rep"], hcp.id)

    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0
    assert counted(hcp) == 0
    refusal = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "contact.refused"))
    assert refusal is not None
    assert refusal.actor_id == field["rep"].id
    assert refusal.details["rule"] == "channel" and refusal.details["channel"] == "chat"


def test_an_allowed_invitation_uses_the_cap(field):
    consent.invite(field["rep"], field["hcp"].id)

    [contact] = db.session.scalars(select(Contact)).all()
    assert (contact.kind, contact.channel, contact.counted) == (
        ContactKind.CHAT_INVITATION,
        ContactChannel.CHAT,
        True,
    )


# --- flask contacts check ------------------------------------------------------------------------
def run_check(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["contacts", "check", *args])


def test_contacts_check_prints_the_decision_and_changes_nothing(app, field):
    hcp = field["hcp"]
    claim(field["rep"], hcp, contact_rule.utcnow() - dt.timedelta(hours=1))
    before = (counted(hcp), db.session.scalar(select(func.count()).select_from(AuditRecord)))

    result = run_check(
        app, "--from", field["msl"].email, "--to", hcp.email.upper(), "--channel", "visit"
    )

    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert list(answer) == ["allowed", "reason", "used", "cap", "next_allowed_at"]
    assert answer["allowed"] is False
    assert (answer["used"], answer["cap"]) == (1, 4)
    assert "was last contacted" in answer["reason"]
    assert answer["next_allowed_at"].endswith("Z")
    db.session.expire_all()
    assert (
        counted(hcp),
        db.session.scalar(select(func.count()).select_from(AuditRecord)),
    ) == before


def test_contacts_check_allows_with_null_next_time_only_when_refused_for_good(app, field):
    allowed = json.loads(
        run_check(
            app, "--from", field["rep"].email, "--to", field["hcp"].email, "--channel", "portal"
        ).output
    )
    by_phone = json.loads(
        run_check(
            app, "--from", field["rep"].email, "--to", field["hcp"].email, "--channel", "phone"
        ).output
    )

    assert allowed["allowed"] is True and allowed["next_allowed_at"] is not None
    assert by_phone == {**by_phone, "allowed": False, "next_allowed_at": None}


@pytest.mark.parametrize(
    "args",
    [
        ("--from", "nobody@company.test", "--to", "{hcp}", "--channel", "portal"),
        ("--from", "{rep}", "--to", "nobody@clinic.test", "--channel", "portal"),
        ("--from", "{hcp}", "--to", "{hcp}", "--channel", "portal"),
    ],
)
def test_contacts_check_names_an_unknown_person(app, field, args):
    filled = [a.format(hcp=field["hcp"].email, rep=field["rep"].email) for a in args]

    result = run_check(app, *filled)

    assert result.exit_code == 1
    assert "error" in json.loads(result.output)


def test_contacts_check_refuses_an_unknown_channel(app, field):
    result = run_check(
        app, "--from", field["rep"].email, "--to", field["hcp"].email, "--channel", "fax"
    )

    assert result.exit_code == 2


def test_two_colleagues_racing_for_the_last_slot_get_one_contact_between_them(app, field):
    """The HCP's lock serialises claims: the second waits for the first to commit, then sees
    its contact (on PostgreSQL a row lock, on SQLite the database's write lock)."""
    hcp_id, rep_id, msl_id = field["hcp"].id, field["rep"].id, field["msl"].id
    db.session.remove()
    first_holds_the_lock = threading.Event()
    outcomes: dict[str, str] = {}

    def contact(name: str, staff_id: int, hold: bool) -> None:
        with app.app_context():
            staff, hcp = db.session.get(User, staff_id), db.session.get(User, hcp_id)
            assert staff is not None and hcp is not None
            if not hold:
                first_holds_the_lock.wait(5)
            try:
                with unit_of_work():
                    contact_rule.claim(
                        staff, hcp, ContactChannel.PORTAL, kind=ContactKind.MATERIAL_SHARE,
                        subject="test", subject_id=None,
                    )  # fmt: skip
                    if hold:
                        first_holds_the_lock.set()
                        time.sleep(0.5)  # the other colleague tries now
                outcomes[name] = "claimed"
            except ContactRefused as refused:
                outcomes[name] = refused.decision.rule
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=contact, args=("rep", rep_id, True)),
        threading.Thread(target=contact, args=("msl", msl_id, False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    assert outcomes == {"rep": "claimed", "msl": contact_rule.MIN_GAP}
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 1
