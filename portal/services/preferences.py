"""A person's own language and time zone: what pages, mail and dates use for them."""

from __future__ import annotations

from flask_babel import gettext

from portal import audit, i18n
from portal.errors import InvalidInput
from portal.models import User
from portal.unit_of_work import transactional

# What the language page submits for "follow my browser": nothing is stored then.
BROWSER = ""


def _clean_locale(locale: str | None) -> str | None:
    if locale is None or locale == BROWSER:
        return None
    if locale not in i18n.languages():
        raise InvalidInput(gettext("Choose one of the languages offered."), field="locale")
    return locale


def _clean_timezone(timezone: str | None) -> str | None:
    if timezone is None or timezone == BROWSER:
        return None
    valid = i18n.valid_timezone(timezone.strip())
    if valid is None:
        raise InvalidInput(
            gettext(
                "%(zone)s is not a time zone we know. Choose one from the list, e.g. "
                "Europe/Berlin.",
                zone=timezone[: i18n.MAX_ZONE_LENGTH],
            ),
            field="timezone",
        )
    return valid


@transactional
def set_language_and_timezone(user: User, *, locale: str | None, timezone: str | None) -> User:
    """Save the user's own language (``en``, ``de``, ``es``, ``fr``) and IANA time zone; ``None``
    or an empty string for either means "follow my browser". Anyone signed in may change their
    own, and only their own. Raises :class:`InvalidInput` (naming the field) for a language the
    portal does not speak or a zone that does not exist; nothing is saved then. Audits
    ``user.locale_changed`` with the old and new values, only when something changed.
    """
    new_locale = _clean_locale(locale)
    new_timezone = _clean_timezone(timezone)
    if (new_locale, new_timezone) == (user.locale, user.timezone):
        return user
    audit.record(
        user,
        "user.locale_changed",
        user,
        locale={"from": user.locale, "to": new_locale},
        timezone={"from": user.timezone, "to": new_timezone},
    )
    user.locale = new_locale
    user.timezone = new_timezone
    return user
