"""The HCP-facing pages and e-mails in German, Spanish and French: a page speaks the reader's
language, a mail its recipient's, and the catalogues translate every HCP-facing string with its
placeholders intact."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract
from sqlalchemy import select

from portal.extensions import db
from portal.models import OutboxMail, Role, User, Verification
from portal.questions import work
from portal.services import accounts
from tests.factories import make_hcp, make_user
from tests.portal.helpers import browser, registration
from tests.portal.questions.factories import NOTHING, ask
from tests.portal.test_i18n import compiled_catalogues  # noqa: F401  (builds the .mo files)

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "portal" / "translations"
TEMPLATES = ROOT / "templates"
TRANSLATED = ("de", "es", "fr")
# The HCP-facing templates wrapped for translation (staff pages stay English).
HCP_TEMPLATES = [
    "portal/auth/register.html",
    "portal/auth/forgot.html",
    "portal/auth/reset.html",
    "portal/auth/two_factor.html",
    "portal/home/pending.html",
    "portal/notifications.html",
    "portal/throttled.html",
    "portal/account/sessions.html",
    "portal/account/password.html",
    "portal/account/enrol.html",
    "portal/account/recovery_codes.html",
    "portal/account/two_factor.html",
    "portal/safety/panels/hcp.html",
    "portal/safety/requests.html",
    "portal/safety/request.html",
    "content/library.html",
    "content/material.html",
    "content/_card.html",
    "content/mine.html",
    "content/awaiting_verification.html",
    "content/unavailable.html",
    "content/panels/for_you.html",
    "questions/ask.html",
    "questions/mine.html",
    "questions/hcp_detail.html",
    "questions/_macros.html",
    "questions/panels/hcp.html",
    "chat/index.html",
    "chat/settings.html",
    "chat/team.html",
    "chat/_consent.html",
]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _german_hcp(**chosen: object) -> User:
    hcp = make_hcp(country="DE")
    hcp.locale = str(chosen.pop("locale", "de"))
    for name, value in chosen.items():
        setattr(hcp, name, value)
    db.session.commit()
    return hcp


def _mails_to(address: str) -> list[OutboxMail]:
    return list(
        db.session.scalars(
            select(OutboxMail).where(OutboxMail.to == address).order_by(OutboxMail.id)
        )
    )


# --- pages -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "translated", "english"),
    [
        ("/register", "Als Angehörige/r der Fachkreise registrieren", "Create account"),
        ("/register", "Berufliche E-Mail-Adresse", "Work email"),  # the form's own label
        ("/password/forgot", "Passwort zurücksetzen", "Send reset link"),
    ],
)
def test_anonymous_pages_speak_the_browsers_german(client, path, translated, english):
    page = client.get(path, headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert translated in page
    assert english not in page


@pytest.mark.parametrize(
    ("path", "translated", "english"),
    [
        ("/account/sessions", "Ihre Sitzungen", "Sign out everywhere else"),
        ("/account/password", "Ändern Sie Ihr Passwort", "Current password"),
        ("/notifications", "Nichts Neues.", "Nothing new."),
        ("/library/", "Freigegebene Materialien durchsuchen", "All products"),
        ("/library/mine", "Zuletzt geöffnet", "Nothing opened yet."),
        ("/questions/", "Meine Fragen", "You have not asked a question yet."),
        ("/questions/ask", "Wie es weitergeht", "Send my question"),
        ("/chat/", "Chat-Einstellungen", "No chats yet."),
        ("/chat/settings", "Alle Chats beenden", "No active chat."),
        ("/chat/team", "Ihr Gebiet wird noch von niemandem betreut.", "Nobody covers your"),
    ],
)
def test_a_german_hcps_pages_are_german(app, path, translated, english):
    visitor = browser(app, _german_hcp())
    if path == "/chat/settings":
        # The "end all" button shows only with an active chat; the empty list is enough here.
        translated = "Kein aktiver Chat."
    response = visitor.get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:500]
    assert translated in page
    assert english not in page


def test_a_pending_hcp_reads_their_registration_status_in_german(app):
    hcp = _german_hcp()
    hcp.hcp_profile.verification = Verification.PENDING
    db.session.commit()

    page = browser(app, hcp).get("/").get_data(as_text=True)

    assert "Ihre Registrierung wartet auf Verifizierung" in page
    assert f"Guten Tag, {hcp.name}" in page
    assert "awaiting verification" not in page


def test_a_question_page_is_german_with_its_plural_and_placeholders(app):
    hcp = _german_hcp()
    question = ask(hcp)
    page = browser(app, hcp).get(f"/questions/{question.id}").get_data(as_text=True)
    assert f"Frage {question.reference}" in page
    assert "Ihre Frage" in page
    assert "Your question" not in page
    assert "Answer wanted" not in page


def test_labels_from_the_models_are_read_in_the_hcps_language(app):
    """Categories, statuses, teams, kinds, classifications, specialties and the role are stored
    as English keys and shown in the reader's language."""
    hcp = _german_hcp()
    hcp.hcp_profile.specialty = "Cardiology"
    db.session.commit()
    question = ask(hcp, category="dosing")
    visitor = browser(app, hcp)

    mine = visitor.get("/questions/").get_data(as_text=True)
    detail = visitor.get(f"/questions/{question.id}").get_data(as_text=True)
    home = visitor.get("/").get_data(as_text=True)
    asking = visitor.get("/questions/ask").get_data(as_text=True)

    assert "Dosierung und Anwendung" in mine and "Dosing and administration" not in mine
    assert "Zuständig: " in mine and "With " not in mine
    assert "Eingegangen" in detail and "Received" not in detail
    assert "Angehörige/r der Gesundheitsberufe" in home
    assert "Healthcare professional" not in home
    assert "Kardiologie" in home and "· Cardiology" not in home
    assert "Dringend (ein Patient wartet)" in asking and "Urgent (a patient" not in asking
    assert "Telefonisch" in asking and "By phone" not in asking


def test_a_refused_question_says_why_in_german(app):
    hcp = _german_hcp()
    visitor = browser(app, hcp)
    response = visitor.post(
        "/questions/ask",
        data={
            "category": "",
            "text": "Zu kurz",
            "channel": "portal",
            "urgency": "routine",
            "consent": "",
            "consent_wording_id": "",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Schreiben Sie Ihre Frage in mindestens 10 Zeichen." in page
    assert "Wählen Sie, worum es in Ihrer Frage geht." in page
    assert "Wir können nur antworten, wenn Sie einer Kontaktaufnahme dazu zustimmen." in page
    assert "Write your question" not in page and "Choose what" not in page


@pytest.mark.parametrize(
    ("locale", "translated", "english"),
    [
        ("es", "Buscar materiales aprobados", "Search approved materials"),
        ("fr", "Rechercher dans les documents approuvés", "Search approved materials"),
    ],
)
def test_spanish_and_french_hcps_read_the_library_in_their_language(
    app, locale, translated, english
):
    page = browser(app, _german_hcp(locale=locale)).get("/library/").get_data(as_text=True)
    assert translated in page
    assert english not in page


@pytest.mark.parametrize(
    ("accept", "translated"),
    [
        ("es", "Registrarse como profesional sanitario"),
        ("fr", "en tant que professionnel de santé"),
    ],
)
def test_the_registration_page_in_spanish_and_french(client, accept, translated):
    page = client.get("/register", headers={"Accept-Language": accept}).get_data(as_text=True)
    assert translated in page
    assert "Register as a healthcare professional" not in page


def test_a_registration_form_error_is_german(client):
    data = registration(confirm="Something-Else-Entirely-42")
    response = client.post("/register", data=data, headers={"Accept-Language": "de"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Die Passwörter stimmen nicht überein." in page
    assert "The passwords differ." not in page


def test_an_english_browser_still_gets_english(client):
    page = client.get("/register", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Register as a healthcare professional" in page
    assert "Work email" in page


def _chat_words(page: str) -> dict[str, str]:
    found = re.search(r'<script type="application/json" id="chat-i18n">(.*?)</script>', page, re.S)
    assert found, "no chat-i18n block"
    words: dict[str, str] = json.loads(found.group(1))
    return words


def test_the_chat_page_gives_chat_js_its_words_in_the_readers_language(app):
    page = browser(app, _german_hcp()).get("/chat/").get_data(as_text=True)
    words = _chat_words(page)
    assert words["Sent"] == "Gesendet"
    assert words["%(name)s is typing…"] == "%(name)s schreibt…"  # chat.js fills the name
    assert words["Messages are limited to %(max)s characters."].endswith("Zeichen begrenzt.")


def test_chat_js_looks_up_every_word_the_page_gives_it(app):
    script = (ROOT / "static" / "js" / "chat.js").read_text(encoding="utf-8")
    page = browser(app, make_hcp()).get("/chat/").get_data(as_text=True)
    words = _chat_words(page)
    assert words["Sent"] == "Sent"  # English readers get the English back
    unused = [word for word in words if f't("{word}"' not in script]
    assert unused == []


# --- e-mails -----------------------------------------------------------------------------------
def test_the_confirmation_mail_is_in_the_language_the_registrant_read_the_form_in(client):
    data = registration()
    response = client.post("/register", data=data, headers={"Accept-Language": "de"})

    assert response.status_code == 302
    [confirmation] = _mails_to(data["email"])
    assert confirmation.subject == "Bestätigen Sie Ihre E-Mail-Adresse für das Fachkreisportal"
    assert confirmation.body.startswith(f"Guten Tag {data['name']},")
    assert "http://portal.test/confirm/" in confirmation.body
    assert "Please confirm" not in confirmation.body


def test_the_reset_mail_follows_the_recipients_profile_not_the_request(app):
    hcp = _german_hcp(locale="fr")
    with app.test_request_context(headers={"Accept-Language": "de"}):
        accounts.request_password_reset(hcp.email)

    [reset] = _mails_to(hcp.email)
    assert reset.subject.startswith("Réinitialisation de votre mot de passe")
    assert "Le lien fonctionne une seule fois" in reset.body
    assert "http://portal.test/password/reset/" in reset.body
    assert "Reset your" not in reset.subject


def test_a_german_hcp_is_told_of_an_answer_in_german_and_an_english_one_in_english(app):
    german = _german_hcp()
    english = make_hcp()
    colleague = make_user(Role.MEDICAL_INFORMATION)
    asked = {}
    for hcp in (german, english):
        question = ask(hcp)
        asked[hcp.id] = question.reference
        if question.assignee_id != colleague.id:
            work.claim_question(colleague, question.id)
        work.reply_to_question(colleague, question.id, body="See 4.2.", attestation=NOTHING)

    [to_german] = [m for m in _mails_to(german.email) if asked[german.id] in m.subject]
    [to_english] = [m for m in _mails_to(english.email) if asked[english.id] in m.subject]
    assert to_german.subject == f"Ihre Frage {asked[german.id]} wurde beantwortet"
    assert to_german.body.startswith(f"Guten Tag {german.name},")
    assert "Melden Sie sich im Portal an" in to_german.body
    assert "See 4.2." not in to_german.body  # still never the text itself
    assert to_english.subject == f"Your question {asked[english.id]} has an answer"
    assert "Sign in to the portal to see it" in to_english.body


# --- the catalogues ----------------------------------------------------------------------------
def _template_msgids() -> set[str | tuple[str, ...]]:
    found: set[str | tuple[str, ...]] = set()
    for name in HCP_TEMPLATES:
        with (TEMPLATES / name).open("rb") as fh:
            for _line, _func, message, _comments in babel_extract(
                fh, ("_", "gettext", "ngettext"), [], {}
            ):
                if isinstance(message, str):
                    found.add(message)
                elif isinstance(message, tuple) and all(isinstance(m, str) for m in message):
                    found.add(message[0])
    return found


def _catalogue(lang: str):
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_string_of_the_hcp_templates_is_translated(lang):
    msgids = _template_msgids()
    assert "Register as a healthcare professional" in msgids and len(msgids) > 200
    catalog = _catalogue(lang)
    missing = []
    for msgid in msgids:
        message = catalog.get(msgid)
        strings = message.string if message is not None else None
        if not strings or (isinstance(strings, tuple) and not all(strings)):
            missing.append(msgid)
    assert sorted(missing, key=str) == []


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_translation_keeps_its_placeholders(lang):
    wrong = []
    for message in _catalogue(lang):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = {name for msgid in ids for name in PLACEHOLDER.findall(msgid)}
        for string in strings:
            # A singular may leave out %(num)d ("eine Frage"); nothing else may go or appear.
            if set(PLACEHOLDER.findall(string)) - wanted or (
                wanted - {"num"} - set(PLACEHOLDER.findall(string))
            ):
                wrong.append((message.id, string))
    assert wrong == []


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_of_the_catalogue_is_translated(lang):
    untranslated = [
        message.id
        for message in _catalogue(lang)
        if message.id
        and not (all(message.string) if isinstance(message.id, tuple) else message.string)
    ]
    assert untranslated == []
