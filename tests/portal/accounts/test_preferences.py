"""The HCP's contact preferences (``/account/preferences``): every bad input refused with nothing
saved, every change recorded like consent (and nothing recorded when nothing changed), the
contact rule honouring a change at once, the page for HCPs only and in their language, and the
topics they follow leading the library's "For you"."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select

import content
from content import services as library
from portal.accounts import contact_rule, preferences
from portal.accounts.models import (
    Contact,
    ContactChannel,
    ContactKind,
    ContactPreferences,
    PreferenceChange,
)
from portal.errors import InvalidInput, PermissionDenied
from portal.extensions import db
from portal.models import AuditRecord, Profession, Role, User, Verification, utcnow
from tests.conftest import login
from tests.content.factories import DAY, make_author, make_material
from tests.factories import make_hcp, make_product, make_territory, make_user

URL = "/account/preferences"
NOW = dt.datetime(2026, 11, 2, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
def field(app: Flask) -> dict[str, User]:
    """An HCP in Berlin, a rep of their territory, another HCP."""
    territory = make_territory(country="DE")
    hcp = make_hcp(country="DE", territory=territory, name="Dr. Cole")
    hcp.timezone = "Europe/Berlin"
    db.session.commit()
    return {
        "hcp": hcp,
        "rep": make_user(Role.REP, territories=[territory]),
        "other": make_hcp(country="DE", territory=territory),
    }


def valid(**changes: Any) -> preferences.PreferencesInput:
    values: dict[str, Any] = {
        "channels": ["portal", "email", "visit"],
        "quiet_start": "19:00",
        "quiet_end": "08:00",
        "cap": 3,
    }
    values.update(changes)
    return preferences.PreferencesInput(**values)


def changes_of(hcp: User) -> int:
    return db.session.scalar(
        select(func.count()).select_from(PreferenceChange).where(PreferenceChange.hcp_id == hcp.id)
    ) or 0  # fmt: skip


def audits(action: str = "contact.preferences_changed") -> list[AuditRecord]:
    return list(db.session.scalars(select(AuditRecord).where(AuditRecord.action == action)))


def stored(hcp: User) -> ContactPreferences | None:
    db.session.expire_all()
    return db.session.get(ContactPreferences, hcp.id)


# --- validation: every bad field named, nothing saved --------------------------------------------
MAX_CAP = 12  # the default CONTACT_MAX_CAP


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        pytest.param({"channels": ["portal", "fax"]}, {"channels"}, id="unknown-channel"),
        pytest.param({"quiet_start": "25:00"}, {"quiet_start"}, id="hour-out-of-range"),
        pytest.param({"quiet_end": "7pm"}, {"quiet_end"}, id="not-a-time"),
        pytest.param({"quiet_start": "19:60"}, {"quiet_start"}, id="minute-out-of-range"),
        pytest.param({"quiet_end": ""}, {"quiet_end"}, id="only-the-start"),
        pytest.param({"quiet_start": ""}, {"quiet_start"}, id="only-the-end"),
        pytest.param({"quiet_start": "08:00", "quiet_end": "08:00"}, {"quiet_end"}, id="equal"),
        pytest.param({"cap": -1}, {"cap"}, id="cap-below-zero"),
        pytest.param({"cap": MAX_CAP + 1}, {"cap"}, id="cap-above-the-company-maximum"),
        pytest.param({"pause_weeks": 0}, {"pause_weeks"}, id="pause-zero-weeks"),
        pytest.param({"pause_weeks": 53}, {"pause_weeks"}, id="pause-over-a-year"),
        pytest.param({"pause_weeks": -2}, {"pause_weeks"}, id="pause-negative"),
        pytest.param({"product_ids": [2**31 - 1]}, {"product_ids"}, id="unknown-product"),
        pytest.param({"product_ids": ["1; drop"]}, {"product_ids"}, id="product-not-an-id"),
        pytest.param({"areas": ["Astrology"]}, {"areas"}, id="unknown-area"),
        pytest.param(
            {"channels": ["pigeon"], "cap": 99, "quiet_end": ""},
            {"channels", "cap", "quiet_end"},
            id="all-at-once",
        ),
    ],
)
def test_bad_preferences_are_refused_field_by_field_and_nothing_is_saved(field, changes, fields):
    hcp = field["hcp"]
    preferences.save(hcp, valid(), now=NOW)
    before = preferences.state_of(stored(hcp))  # type: ignore[arg-type]

    with pytest.raises(InvalidInput) as refused:
        preferences.save(hcp, valid(**changes), now=NOW + DAY)

    assert set(refused.value.errors) == fields
    assert preferences.state_of(stored(hcp)) == before  # type: ignore[arg-type]
    assert changes_of(hcp) == 1 and len(audits()) == 1


def test_a_first_refused_save_leaves_no_preferences_row(field):
    with pytest.raises(InvalidInput):
        preferences.save(field["hcp"], valid(cap=-5))

    assert stored(field["hcp"]) is None
    assert changes_of(field["hcp"]) == 0 and audits() == []


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({}, id="typical"),
        pytest.param({"channels": [], "cap": 0}, id="no-contact-at-all"),
        pytest.param({"quiet_start": "", "quiet_end": ""}, id="no-quiet-hours"),
        pytest.param({"quiet_start": "22:00", "quiet_end": "23:59"}, id="same-day-window"),
        pytest.param({"cap": MAX_CAP, "pause_weeks": 52}, id="upper-bounds"),
        pytest.param({"pause_weeks": 1}, id="a-week"),
    ],
)
def test_good_preferences_are_saved(field, changes):
    saved = preferences.save(field["hcp"], valid(**changes), now=NOW)

    assert saved.chosen and changes_of(field["hcp"]) == 1
    if changes.get("pause_weeks"):
        assert saved.paused_until == NOW + dt.timedelta(weeks=changes["pause_weeks"])


def test_nobody_saves_preferences_for_an_hcp_but_the_hcp(field):
    for actor in (field["rep"], make_user(Role.ADMIN)):
        with pytest.raises(PermissionDenied):
            preferences.save(actor, valid())

    assert stored(field["hcp"]) is None and audits() == []


# --- every change recorded like consent ----------------------------------------------------------
def test_each_change_is_recorded_and_audited_and_an_unchanged_save_records_nothing(field):
    hcp = field["hcp"]
    product = make_product(therapeutic_area="Oncology")

    preferences.save(hcp, valid(), now=NOW)
    preferences.save(hcp, valid(cap=2, product_ids=[product.id]), now=NOW + DAY)
    preferences.save(hcp, valid(cap=2, product_ids=[product.id]), now=NOW + 2 * DAY)  # the same

    versions = preferences.history(hcp)
    assert [v.at for v in versions] == [NOW + DAY, NOW]
    assert versions[0].state["cap"] == 2 and versions[0].state["product_ids"] == [product.id]
    assert all(v.actor_id == hcp.id for v in versions)
    records = audits()
    assert len(records) == 2
    assert records[0].details["before"] is None
    assert records[1].details["before"]["cap"] == 3 and records[1].details["after"]["cap"] == 2
    assert records[1].actor_id == hcp.id and records[1].target_id == str(hcp.id)


def test_the_history_says_what_each_version_changed(field):
    hcp = field["hcp"]
    product = make_product(name="Cardiozan", therapeutic_area="Cardiology")
    preferences.save(hcp, valid(), now=NOW)
    preferences.save(hcp, valid(product_ids=[product.id], areas=["Cardiology"]), now=NOW + DAY)
    preferences.save(
        hcp, valid(product_ids=[product.id], areas=["Cardiology"], pause_weeks=2), now=NOW + 2 * DAY
    )

    newest, topics, first = preferences.history_entries(hcp)

    assert newest.changed == {"paused_until"} and newest.paused_until == NOW + 2 * DAY + 14 * DAY
    assert topics.changed == {"topics"} and topics.products == ["Cardiozan"]
    assert topics.areas == ["Cardiology"]
    assert first.first and first.changed == set(preferences.FIELDS)
    assert first.channels == [ContactChannel.PORTAL, ContactChannel.EMAIL, ContactChannel.VISIT]
    assert first.quiet == ("19:00", "08:00") and first.cap == 3


def test_the_history_is_bounded_and_still_knows_what_the_oldest_shown_changed(field):
    hcp = field["hcp"]
    for day in range(4):
        preferences.save(hcp, valid(cap=day), now=NOW + day * DAY)

    shown = preferences.history_entries(hcp, limit=2)

    assert [e.cap for e in shown] == [3, 2]
    assert not shown[-1].first and shown[-1].changed == {"cap"}


def test_resuming_contact_ends_the_pause_only_and_is_recorded(field):
    hcp = field["hcp"]
    preferences.save(hcp, valid(pause_weeks=4), now=NOW)

    preferences.resume(hcp, now=NOW + DAY)
    preferences.resume(hcp, now=NOW + 2 * DAY)  # no longer paused: nothing to record

    saved = stored(hcp)
    assert saved is not None and saved.paused_until is None
    assert saved.cap == 3 and saved.quiet_start == "19:00"
    assert changes_of(hcp) == 2 and len(audits()) == 2


# --- the contact rule honours a change at once ---------------------------------------------------
def test_a_channel_removed_is_refused_at_once_naming_the_channel(field):
    hcp, rep = field["hcp"], field["rep"]
    preferences.save(hcp, valid(channels=["portal", "email"], quiet_start="", quiet_end=""))
    assert contact_rule.check(rep, hcp, ContactChannel.EMAIL).allowed

    preferences.save(hcp, valid(channels=["portal"], quiet_start="", quiet_end=""))
    decision = contact_rule.check(rep, hcp, ContactChannel.EMAIL)

    assert not decision.allowed and decision.rule == contact_rule.CHANNEL
    assert ContactChannel.EMAIL.label in decision.reason
    assert decision.next_allowed_at is None


def test_a_pause_is_refused_at_once_and_contact_is_next_possible_when_it_ends(field):
    hcp, rep = field["hcp"], field["rep"]
    preferences.save(hcp, valid(quiet_start="", quiet_end=""))
    assert contact_rule.check(rep, hcp, ContactChannel.PORTAL).allowed

    saved = preferences.save(hcp, valid(quiet_start="", quiet_end="", pause_weeks=3))
    decision = contact_rule.check(rep, hcp, ContactChannel.PORTAL)

    assert not decision.allowed and decision.rule == contact_rule.PAUSED
    assert saved.paused_until is not None
    assert decision.next_allowed_at == saved.paused_until

    preferences.resume(hcp)
    assert contact_rule.check(rep, hcp, ContactChannel.PORTAL).allowed


def test_used_counts_only_unsolicited_contacts_of_the_last_window(field):
    hcp, rep = field["hcp"], field["rep"]
    preferences.save(hcp, valid(cap=12, quiet_start="", quiet_end=""), now=NOW - 60 * DAY)
    for at, solicited in ((NOW - 40 * DAY, False), (NOW - 10 * DAY, False), (NOW - DAY, True)):
        contact_rule.claim(
            rep, hcp, ContactChannel.PORTAL, kind=ContactKind.MATERIAL_SHARE, subject="test",
            subject_id=None, at=at, solicited=solicited,
        )  # fmt: skip
        db.session.commit()

    assert preferences.used_in_window(hcp, at=NOW) == 1
    assert preferences.used_in_window(field["other"], at=NOW) == 0
    assert contact_rule.check(rep, hcp, ContactChannel.PORTAL, at=NOW).used == 1
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 3


# --- the page ------------------------------------------------------------------------------------
def form(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "channels": ["portal", "visit"],
        "quiet_start": "20:00",
        "quiet_end": "07:30",
        "cap": "2",
        "pause_weeks": "",
    }
    data.update(changes)
    return data


def invalid_fields(html: str) -> set[str]:
    """The fields the page marks invalid: inputs with ``is-invalid``, checkbox lists too."""
    inputs = re.findall(r"<input[^>]*>", html)
    marked = {
        m.group(1)
        for tag in inputs
        if "is-invalid" in tag and (m := re.search(r'name="([^"]+)"', tag))
    }
    for listing in re.findall(r'checkbox-list is-invalid">(.*?)</div>\s*</div>', html, re.S):
        marked |= set(re.findall(r'name="([^"]+)"', listing))
    return marked


@pytest.mark.parametrize(
    "role", [Role.REP, Role.MSL, Role.MEDICAL_INFORMATION, Role.COMPLIANCE, Role.ADMIN]
)
def test_staff_have_no_contact_preferences_page(client, role):
    staff = make_user(role)
    login(client, staff.email)

    assert client.get(URL).status_code == 404
    assert client.post(URL, data=form()).status_code == 404
    assert client.post(f"{URL}/resume").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(ContactPreferences)) == 0


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(URL)

    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_page_shows_the_defaults_the_zone_and_the_explanations(client, field):
    login(client, field["hcp"].email)

    html = client.get(URL).get_data(as_text=True)

    assert 'data-testid="preferences-form"' in html
    for channel in ContactChannel:
        assert f'value="{channel.value}"' in html
        assert channel.label in html
    assert "Europe/Berlin" in html[html.index('data-testid="quiet-zone"') :]
    assert 'data-testid="unsolicited-explained"' in html
    assert 'data-testid="no-history"' in html
    used = html[html.index('data-testid="used-count"') :]
    assert "0 of 4" in used[: used.index("</p>")]
    # The company defaults are ticked: portal, chat, visit.
    assert re.search(r'checked[^>]*value="chat"|value="chat"[^>]*checked', html)
    assert not re.search(r'checked[^>]*value="email"|value="email"[^>]*checked', html)


def test_saving_on_the_page_flashes_and_applies_at_once(client, field):
    hcp, rep = field["hcp"], field["rep"]
    product = make_product()
    login(client, hcp.email)

    response = client.post(URL, data=form(product_ids=[str(product.id)]))

    assert response.status_code == 302 and response.headers["Location"].endswith(URL)
    page = client.get(URL).get_data(as_text=True)
    assert "Your contact preferences are saved" in page
    assert 'data-testid="history-entry"' in page
    saved = stored(hcp)
    assert saved is not None and saved.channels == ["portal", "visit"] and saved.cap == 2
    assert saved.product_ids == [product.id] and (saved.quiet_start, saved.quiet_end) == (
        "20:00",
        "07:30",
    )
    assert contact_rule.check(rep, hcp, ContactChannel.EMAIL).rule == contact_rule.CHANNEL


@pytest.mark.parametrize(
    ("changes", "field_name"),
    [
        pytest.param({"cap": ""}, "cap", id="no-cap"),
        pytest.param({"cap": "many"}, "cap", id="cap-not-a-number"),
        pytest.param({"cap": "13"}, "cap", id="cap-too-high"),
        pytest.param({"pause_weeks": "60"}, "pause_weeks", id="pause-too-long"),
        pytest.param({"pause_weeks": "two"}, "pause_weeks", id="pause-not-a-number"),
        pytest.param({"quiet_end": ""}, "quiet_end", id="one-end"),
        pytest.param({"quiet_start": "noon"}, "quiet_start", id="bad-time"),
        pytest.param({"channels": ["fax"]}, "channels", id="unknown-channel"),
        pytest.param({"product_ids": ["abc"]}, "product_ids", id="product-not-an-id"),
        pytest.param({"product_ids": ["999999"]}, "product_ids", id="unknown-product"),
    ],
)
def test_bad_input_on_the_page_is_shown_next_to_its_field_and_nothing_is_saved(
    client, field, changes, field_name
):
    make_product()  # a list of products to choose from
    login(client, field["hcp"].email)

    response = client.post(URL, data=form(**changes))

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-testid="not-saved"' in html
    assert field_name in invalid_fields(html)
    assert stored(field["hcp"]) is None and audits() == []


def test_pausing_then_resuming_on_the_page(client, field):
    login(client, field["hcp"].email)

    client.post(URL, data=form(pause_weeks="2"))
    paused = client.get(URL).get_data(as_text=True)
    assert 'data-testid="paused"' in paused and 'data-testid="resume-form"' in paused

    response = client.post(f"{URL}/resume")
    assert response.status_code == 302
    resumed = client.get(URL).get_data(as_text=True)
    assert 'data-testid="paused"' not in resumed
    assert "Contact is resumed" in resumed
    assert changes_of(field["hcp"]) == 2


def test_the_page_speaks_german_with_german_dates(client, field):
    hcp = field["hcp"]
    hcp.locale = "de"
    db.session.commit()
    preferences.save(hcp, valid(pause_weeks=2))
    login(client, hcp.email)

    html = client.get(URL).get_data(as_text=True)

    assert '<html lang="de"' in html
    entry = html[html.index('data-testid="history-date"') :]
    date = entry[entry.index(">") + 1 : entry.index("</div>")]
    assert re.fullmatch(r"\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2} \S+", date.strip()), date
    paused = html[html.index('data-testid="paused"') :]
    assert re.search(r"\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}", paused[: paused.index("</span>")])


def test_the_browser_language_applies_when_the_hcp_chose_none(client, field):
    login(client, field["hcp"].email)

    html = client.get(URL, headers={"Accept-Language": "de"}).get_data(as_text=True)

    assert '<html lang="de"' in html and 'data-testid="preferences-form"' in html


def test_the_menu_offers_contact_preferences_to_hcps_only(client, field):
    login(client, field["hcp"].email)
    assert 'data-testid="my-preferences"' in client.get("/account").get_data(as_text=True)
    client.post("/logout")

    login(client, field["rep"].email)
    html = client.get("/account").get_data(as_text=True)
    assert 'data-testid="my-account"' in html and 'data-testid="my-preferences"' not in html


# --- the topics an HCP follows lead "For you" ----------------------------------------------------
def cardiologist() -> User:
    return make_hcp(specialty="Cardiology", country="US", profession=Profession.PHYSICIAN)


def follow(hcp: User, **topics: Any) -> None:
    preferences.save(hcp, preferences.PreferencesInput(channels=["portal"], **topics))


def test_the_account_package_answers_for_content(app):
    assert content.extension(app).interests is preferences.interests_of


def test_a_followed_products_material_ranks_first(app):
    now = utcnow()
    author = make_author()
    oncology = make_product(therapeutic_area="Oncology")
    cardiology = make_product(therapeutic_area="Cardiology")
    followed = make_material(author, direct=True, product=oncology, effective_at=now - 200 * DAY)
    for_specialty = [
        make_material(author, direct=True, product=cardiology, specialties=["Cardiology"])
        for _ in range(3)
    ]
    hcp = cardiologist()
    before = [m.id for m in library.recommendations(hcp, limit=3)]
    assert followed.id not in before and set(before) == {m.id for m in for_specialty}

    follow(hcp, product_ids=[oncology.id])

    after = [m.id for m in library.recommendations(hcp, limit=3)]
    assert after[0] == followed.id and set(after[1:]) <= {m.id for m in for_specialty}


def test_enough_followed_material_fills_for_you_and_a_material_in_both_comes_once(app):
    author = make_author()
    cardiology = make_product(therapeutic_area="Cardiology")
    both = make_material(author, direct=True, product=cardiology, specialties=["Cardiology"])
    followed = [make_material(author, direct=True, product=cardiology) for _ in range(2)]
    make_material(author, direct=True, product=make_product(), specialties=["Cardiology"])
    hcp = cardiologist()

    follow(hcp, product_ids=[cardiology.id])

    shown = [m.id for m in library.recommendations(hcp, limit=3)]
    assert sorted(shown) == sorted([both.id, *(m.id for m in followed)])
    assert len(library.recommendations(hcp, limit=10)) == 4


def test_a_followed_area_ranks_first_and_an_opened_material_is_still_left_out(app):
    now = utcnow()
    author = make_author()
    nephrology = make_product(therapeutic_area="Nephrology")
    opened = make_material(author, direct=True, product=nephrology, effective_at=now - DAY)
    older = make_material(author, direct=True, product=nephrology, effective_at=now - 90 * DAY)
    make_material(author, direct=True, product=make_product(), specialties=["Cardiology"])
    hcp = cardiologist()
    library.record_view(hcp, opened)

    follow(hcp, areas=["Nephrology"])

    assert next(m.id for m in library.recommendations(hcp, limit=2)) == older.id
    assert opened.id not in [m.id for m in library.recommendations(hcp, limit=10)]


def test_following_never_shows_material_the_hcp_may_not_see(app):
    author = make_author()
    oncology = make_product(therapeutic_area="Oncology")
    hidden = make_material(author, direct=True, product=oncology, countries=["DE"])
    hcp = cardiologist()  # in the US

    follow(hcp, product_ids=[oncology.id])

    assert hidden.id not in [m.id for m in library.recommendations(hcp, limit=10)]
    assert library.recommendations(make_hcp(verification=Verification.PENDING)) == []


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_following_topics_costs_for_you_no_extra_statement(app):
    author = make_author()
    cardiology = make_product(therapeutic_area="Cardiology")
    oncology = make_product(therapeutic_area="Oncology")
    for _ in range(4):
        make_material(author, direct=True, product=cardiology, specialties=["Cardiology"])
    make_material(author, direct=True, product=oncology)
    plain, following = cardiologist(), cardiologist()
    follow(following, product_ids=[oncology.id])

    counts = []
    for hcp in (plain, following):
        db.session.expire_all()
        hcp_id = hcp.id
        reader = db.session.get(User, hcp_id)
        assert reader is not None and reader.hcp_profile is not None
        with statements(app) as seen:
            library.recommendations(reader, limit=3)
        counts.append(len(seen))

    assert counts[0] == counts[1] <= 3


def test_for_you_on_the_home_page_leads_with_the_followed_product(client):
    now = utcnow()
    author = make_author()
    oncology = make_product(therapeutic_area="Oncology")
    followed = make_material(author, direct=True, product=oncology, effective_at=now - 100 * DAY)
    for _ in range(3):
        make_material(author, direct=True, specialties=["Cardiology"])
    hcp = cardiologist()
    login(client, hcp.email)

    client.post(URL, data=form(product_ids=[str(oncology.id)]))
    html = client.get("/").get_data(as_text=True)

    for_you = html[html.index('data-testid="recommendations"') :]
    ids = [int(n) for n in re.findall(r'data-material-id="(\d+)"', for_you)]
    assert ids and ids[0] == followed.id
