"""Languages and time zones: which ones a page speaks, dates shown in the reader's zone and
language, dates typed in the author's zone, the language page, and the catalogues."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask_migrate import downgrade, upgrade
from jinja2.ext import babel_extract
from sqlalchemy import inspect, select

from content.models import Material
from portal import i18n
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import AuditRecord, User
from portal.services import demo, preferences
from tests.content.factories import make_author
from tests.factories import make_hcp, make_product
from tests.portal.helpers import audit_actions, browser, fresh
from tests.portal.questions.factories import ask

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "portal" / "translations"
TEMPLATES = ROOT / "templates"
BERLIN = ZoneInfo("Europe/Berlin")
# The templates wrapped so far: each of their strings must be translated into every language.
WRAPPED = [
    "portal/base.html",
    "portal/error.html",
    "portal/auth/login.html",
    "portal/home/hcp.html",
    "portal/account/language.html",
    # The HCP's own account and outreach pages (issue 15).
    "accounts/account.html",
    "accounts/preferences.html",
    "accounts/shared_with_me.html",
    "accounts/meetings.html",
    "accounts/meeting_form.html",
]
TRANSLATED = ("de", "es", "fr")


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogues() -> None:
    """What ``make translations`` does: build each .mo from its .po when missing or older."""
    for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as fh:
            catalog = read_po(fh)
        with mo.open("wb") as fh:
            write_mo(fh, catalog)


def _with_hcp(**chosen: str | None) -> User:
    hcp = make_hcp(country=chosen.pop("country", None) or "US")
    for name, value in chosen.items():
        setattr(hcp, name, value)
    db.session.commit()
    return hcp


def _html_attrs(page: str) -> tuple[str, str]:
    match = re.search(r'<html lang="([^"]*)" data-timezone="([^"]*)">', page)
    assert match, page[:300]
    return match.group(1), match.group(2)


# --- which language and zone a page uses ------------------------------------------------------
def test_anonymous_visitor_gets_the_login_page_in_their_browsers_language(client):
    response = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert _html_attrs(page)[0] == "de"
    assert '<h1 class="h3 mb-3">Anmelden</h1>' in page
    assert "Passwort vergessen?" in page
    assert "Passwort" in page  # the form's own label
    assert "Sign in" not in page


def test_the_sign_in_prompt_is_flashed_in_the_browsers_language(client):
    german = {"Accept-Language": "de"}
    response = client.get("/library/", headers=german)
    page = client.get(response.headers["Location"], headers=german).get_data(as_text=True)

    assert response.status_code == 302
    assert "Bitte melden Sie sich an, um fortzufahren." in page


@pytest.mark.parametrize(
    ("accept", "lang", "heading"),
    [("es-ES,es;q=0.9", "es", "Iniciar sesión"), ("fr-CA", "fr", "Se connecter")],
)
def test_spanish_and_french_browsers_get_their_language(client, accept, lang, heading):
    page = client.get("/login", headers={"Accept-Language": accept}).get_data(as_text=True)
    assert _html_attrs(page)[0] == lang
    assert heading in page


def test_the_profile_language_overrides_the_browser(app):
    hcp = _with_hcp(locale="fr")
    visitor = browser(app, hcp)

    page = visitor.get("/", headers={"Accept-Language": "de"}).get_data(as_text=True)

    assert _html_attrs(page)[0] == "fr"
    assert f"Bienvenue, {hcp.name}" in page
    assert "Se déconnecter" in page


@pytest.mark.parametrize(
    "accept", ["", "xx-YY", "*", ";;;q=zz,,", "de;q=abc", "x" * 300, "zh-Hant-TW;q=0.9"]
)
def test_unknown_or_garbage_accept_language_falls_back_to_english(client, accept):
    response = client.get("/login", headers={"Accept-Language": accept})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert _html_attrs(page)[0] == "en"
    assert "Sign in" in page


@pytest.mark.parametrize(
    "cookie", ["Mars/Olympus", "../../etc/passwd", "", "Europe/Berlin\x00", "A" * 500, "UTC+25"]
)
def test_junk_tz_cookie_is_ignored(client, cookie):
    client.set_cookie("tz", cookie)
    response = client.get("/login")
    assert response.status_code == 200
    assert _html_attrs(response.get_data(as_text=True))[1] == "UTC"


def test_the_browsers_zone_cookie_is_used_when_the_user_chose_none(client):
    client.set_cookie("tz", "America/Chicago")
    page = client.get("/login").get_data(as_text=True)
    assert _html_attrs(page)[1] == "America/Chicago"


def test_the_profile_zone_overrides_the_browsers(app):
    hcp = _with_hcp(timezone="Asia/Tokyo")
    visitor = browser(app, hcp)
    visitor.set_cookie("tz", "America/Chicago")

    assert _html_attrs(visitor.get("/").get_data(as_text=True))[1] == "Asia/Tokyo"


def test_an_hcp_in_germany_without_a_zone_or_cookie_sees_berlin_time(app):
    hcp = _with_hcp(country="DE")
    page = browser(app, hcp).get("/").get_data(as_text=True)
    assert _html_attrs(page)[1] == "Europe/Berlin"


@pytest.mark.parametrize(
    ("country", "zone"),
    [("DE", "Europe/Berlin"), ("ES", "Europe/Madrid"), ("FR", "Europe/Paris"), ("US", None)],
)
def test_a_country_gives_a_zone_only_when_it_is_obvious(country, zone):
    assert i18n.country_timezone(country) == zone


# --- dates shown in the reader's zone and language ----------------------------------------------
def test_a_question_sent_late_in_utc_shows_the_next_day_in_berlin_in_german(app):
    hcp = _with_hcp(locale="de", timezone="Europe/Berlin")
    question = ask(hcp)
    question.created_at = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)
    db.session.commit()

    page = browser(app, hcp).get("/questions/").get_data(as_text=True)

    assert '<time datetime="2026-12-31T23:30:00+00:00">01.01.2027, 00:30 MEZ</time>' in page
    assert "Dec 2026" not in page


def test_the_same_moment_shows_in_new_york_in_english_12_hour_time(app):
    hcp = _with_hcp(locale="en", timezone="America/New_York")
    question = ask(hcp)
    question.created_at = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)
    db.session.commit()

    page = browser(app, hcp).get("/questions/").get_data(as_text=True)

    assert "Dec 31, 2026, 6:30\u202fPM EST" in page or "Dec 31, 2026, 6:30 PM EST" in page


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("de", "15.07.2026, 14:05"),
        ("fr", "15 juil. 2026, 14:05"),
        ("es", "15 jul 2026, 14:05"),
    ],
)
def test_datetime_filter_writes_the_locales_format_in_the_users_zone(app, locale, expected):
    moment = dt.datetime(2026, 7, 15, 12, 5, tzinfo=dt.UTC)  # 14:05 in Berlin (summer time)
    with app.test_request_context(), i18n.for_user(locale, "Europe/Berlin"):
        assert i18n.format_datetime(moment, zone=False) == expected
        assert i18n.format_date(moment.replace(hour=23)) != i18n.format_date(moment)  # next day


def test_relative_filter_speaks_the_language(app):
    now = dt.datetime(2026, 7, 15, 12, tzinfo=dt.UTC)
    with app.test_request_context(), i18n.for_user("de", "Europe/Berlin"):
        assert i18n.format_relative(now - dt.timedelta(hours=3), now=now) == "vor 3 Stunden"
    with app.test_request_context(), i18n.for_user("en", "UTC"):
        assert i18n.format_relative(now + dt.timedelta(days=2), now=now) == "in 2 days"


def test_no_template_calls_strftime():
    offenders = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in TEMPLATES.rglob("*.html")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "strftime" in line
    ]
    assert offenders == []


# --- dates typed in the author's zone -----------------------------------------------------------
@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        (dt.datetime(2027, 3, 1, 0, 0), dt.datetime(2027, 2, 28, 23, 0, tzinfo=dt.UTC)),  # CET
        (dt.datetime(2027, 7, 1, 0, 0), dt.datetime(2027, 6, 30, 22, 0, tzinfo=dt.UTC)),  # CEST
        # The hour clocks go back happens twice: the first (summer time) is meant.
        (dt.datetime(2027, 10, 31, 2, 30), dt.datetime(2027, 10, 31, 0, 30, tzinfo=dt.UTC)),
        (dt.datetime(2027, 3, 28, 3, 0), dt.datetime(2027, 3, 28, 1, 0, tzinfo=dt.UTC)),
    ],
)
def test_a_berlin_wall_time_is_stored_in_utc(typed, stored):
    assert i18n.local_to_utc(typed, BERLIN) == stored
    assert i18n.utc_to_local(stored, BERLIN) == typed


def test_a_time_in_the_skipped_spring_hour_is_refused():
    with pytest.raises(i18n.NonexistentLocalTime, match="Europe/Berlin"):
        i18n.local_to_utc(dt.datetime(2027, 3, 28, 2, 30), BERLIN)


def _material_form(product_id: int, **overrides: str) -> dict[str, str]:
    data = {
        "title": "Cardiovex titration in practice",
        "summary": "How to titrate.",
        "body": "Start low.",
        "product_id": str(product_id),
        "therapeutic_area": "",
        "kind": "dosing_guide",
        "classification": "promotional",
        "approval_code": "PRT-DE-0311",
        "effective_at": "2027-03-01T00:00",
        "expires_at": "2028-03-01T00:00",
    }
    data.update(overrides)
    return data


def _berlin_author(app):
    author = make_author()
    author.timezone = "Europe/Berlin"
    db.session.commit()
    return browser(app, author)


def test_a_berlin_author_enters_dates_in_berlin_time(app):
    product = make_product()
    author = _berlin_author(app)

    form_page = author.get("/library/manage/new").get_data(as_text=True)
    response = author.post("/library/manage/new", data=_material_form(product.id))

    assert "Effective from (Europe/Berlin)" in form_page
    assert response.status_code == 302, response.get_data(as_text=True)
    material = db.session.scalars(select(Material).filter_by(approval_code="PRT-DE-0311")).one()
    assert material.effective_at == dt.datetime(2027, 2, 28, 23, 0, tzinfo=dt.UTC)
    assert material.expires_at == dt.datetime(2028, 2, 29, 23, 0, tzinfo=dt.UTC)
    # Shown back as typed, in the author's zone, on the edit form and the detail page.
    edit_page = author.get(f"/library/manage/{material.id}/edit").get_data(as_text=True)
    detail = author.get(f"/library/manage/{material.id}").get_data(as_text=True)
    assert 'value="2027-03-01T00:00"' in edit_page
    assert "Mar 1, 2027, 12:00\u202fAM +0100" in detail  # CET: no English short name


def test_a_berlin_author_typing_a_skipped_hour_is_told_why(app):
    product = make_product()
    author = _berlin_author(app)

    response = author.post(
        "/library/manage/new", data=_material_form(product.id, effective_at="2027-03-28T02:30")
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "does not exist in Europe/Berlin" in page
    assert db.session.scalars(select(Material).filter_by(approval_code="PRT-DE-0311")).all() == []


# --- the language page ---------------------------------------------------------------------------
def test_language_page_offers_each_language_in_its_own_name(app):
    page = browser(app, _with_hcp()).get("/account/language").get_data(as_text=True)
    for name in ("English", "Deutsch", "Español", "Français", "Europe/Berlin", "Berlin"):
        assert name in page
    assert "Use my browser" in page


def test_language_page_saves_audits_and_speaks_the_new_language(app):
    hcp = _with_hcp()
    visitor = browser(app, hcp)

    response = visitor.post("/account/language", data={"locale": "de", "timezone": "Europe/Berlin"})
    page = visitor.get(response.headers["Location"]).get_data(as_text=True)

    assert response.status_code == 302
    assert (fresh(hcp).locale, fresh(hcp).timezone) == ("de", "Europe/Berlin")
    assert audit_actions(hcp).count("user.locale_changed") == 1
    record = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "user.locale_changed")
    ).one()
    assert record.actor_id == hcp.id
    assert record.shown_details["locale"] == {"from": None, "to": "de"}
    assert _html_attrs(page) == ("de", "Europe/Berlin")
    assert "Ihre Sprache und Zeitzone sind gespeichert." in page


def test_choosing_the_browsers_again_clears_the_choice(app):
    hcp = _with_hcp(locale="es", timezone="Europe/Madrid")
    visitor = browser(app, hcp)

    visitor.post("/account/language", data={"locale": "", "timezone": ""})

    assert (fresh(hcp).locale, fresh(hcp).timezone) == (None, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"locale": "en", "timezone": "Mars/Olympus"}, "Mars/Olympus is not a time zone we know"),
        ({"locale": "en", "timezone": "Etc/../../x"}, "is not a time zone we know"),
        ({"locale": "klingon", "timezone": ""}, "Choose one of the languages offered."),
    ],
)
def test_language_page_refuses_a_bogus_choice_and_changes_nothing(app, data, message):
    hcp = _with_hcp()
    visitor = browser(app, hcp)

    response = visitor.post("/account/language", data=data)

    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert (fresh(hcp).locale, fresh(hcp).timezone) == (None, None)
    assert "user.locale_changed" not in audit_actions(hcp)


def test_language_page_asks_for_sign_in(client):
    response = client.get("/account/language")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_saving_the_same_choice_writes_no_audit_record(app):
    hcp = _with_hcp(locale="de", timezone="Europe/Berlin")
    preferences.set_language_and_timezone(hcp, locale="de", timezone="Europe/Berlin")
    assert "user.locale_changed" not in audit_actions(hcp)


def test_service_refuses_a_bogus_zone_naming_the_field(app):
    hcp = _with_hcp()
    with app.test_request_context(), pytest.raises(InvalidInput) as refused:
        preferences.set_language_and_timezone(hcp, locale="de", timezone="Nowhere/Land")
    assert refused.value.field == "timezone"
    assert fresh(hcp).locale is None


def test_demo_hcps_in_europe_read_the_portal_in_their_language_and_zone(app):
    demo.seed_demo()
    chosen = {
        user.email: (user.locale, user.timezone)
        for user in db.session.scalars(select(User).where(User.locale.is_not(None)))
    }
    assert chosen == {
        demo.demo_email("dr.mueller"): ("de", "Europe/Berlin"),
        demo.demo_email("dr.garcia"): ("es", "Europe/Madrid"),
        demo.demo_email("dr.martin"): ("fr", "Europe/Paris"),
    }


# --- the catalogues -----------------------------------------------------------------------------
@pytest.mark.parametrize("po", sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po")), ids=str)
def test_every_catalogue_compiles_without_errors(po):
    with po.open("rb") as fh:
        catalog = read_po(fh)
    problems = [(message.id, errors) for message, errors in catalog.check() if errors]
    assert problems == []
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    assert compiled.getvalue()


def _wrapped_msgids() -> set[str]:
    found = set()
    for name in WRAPPED:
        with (TEMPLATES / name).open("rb") as fh:
            for _line, _func, message, _comments in babel_extract(
                fh, ("_", "gettext", "ngettext"), [], {}
            ):
                if isinstance(message, str):
                    found.add(message)
    return found


def test_every_string_of_the_wrapped_templates_is_translated():
    msgids = _wrapped_msgids()
    assert "Sign in" in msgids and len(msgids) > 30  # the extraction really saw the templates
    for lang in TRANSLATED:
        with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            catalog = read_po(fh)
        missing = sorted(m for m in msgids if not (catalog.get(m) and catalog.get(m).string))
        assert missing == [], lang


def test_the_login_forms_python_strings_are_translated():
    for lang in TRANSLATED:
        with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            catalog = read_po(fh)
        for text in ("Password", "You are signed out.", "Please sign in to continue."):
            assert catalog.get(text) and catalog.get(text).string, (lang, text)


# --- the schema ----------------------------------------------------------------------------------
def test_migration_adds_and_removes_the_users_language_and_zone(app):
    db.session.remove()
    downgrade(revision="0010_team_calendar")
    assert not {"locale", "timezone"} & {c["name"] for c in inspect(db.engine).get_columns("users")}
    upgrade()
    assert {"locale", "timezone"} <= {c["name"] for c in inspect(db.engine).get_columns("users")}
