"""Languages and time zones: which one a request speaks, and how dates and times are shown.

Models store aware UTC times. Everything shown to a person passes through the Jinja filters
registered here (``datetime``, ``date``, ``time``, ``relative``), which convert to the person's
zone and write in their language; forms that take a date or time read it in the same zone
(:func:`local_to_utc`). The language is the user's choice (``users.locale``), else the browser's
best match, else English; the zone is the user's choice (``users.timezone``), else the browser's
(the ``tz`` cookie ``static/js/portal.js`` sets), else their country's if it has one obvious zone,
else UTC.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Iterator
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import flask_babel
import pytz
from babel import Locale
from flask import Flask, current_app, has_request_context, request
from flask_babel import Babel
from flask_login import current_user
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from portal.extensions import db
from portal.models import HcpProfile, Role, User
from portal.models.reference import specialty_label

TZ_COOKIE = "tz"
DEFAULT_LOCALE = "en"
UTC_NAME = "UTC"
# A zone name longer than this is junk, whatever the browser sent (the column holds 64).
MAX_ZONE_LENGTH = 64


def languages() -> dict[str, str]:
    """The supported locales, each with its own name ("Deutsch"), in the configured order."""
    configured: dict[str, str] = current_app.config["LANGUAGES"]
    return configured


# --- time zones --------------------------------------------------------------------------------
def valid_timezone(name: object) -> str | None:
    """``name`` if it is an IANA zone this server knows (e.g. ``Europe/Berlin``), else None."""
    if not isinstance(name, str) or not name or len(name) > MAX_ZONE_LENGTH:
        return None
    # Flask-Babel converts with pytz: the name must be known to both databases.
    if name not in _known_zones() or name not in pytz.all_timezones_set:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


@functools.cache
def _zone_table() -> tuple[tuple[str, str], ...]:
    """``(country, zone)`` rows of the tz database's ``zone.tab``, principal zone first."""
    text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    rows = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) >= 3:
            rows.append((fields[0], fields[2]))
    return tuple(rows)


@functools.cache
def common_timezones() -> tuple[str, ...]:
    """The zones a person would pick from: the canonical, populated zones of the tz database
    (``zone.tab``: no ``Etc/GMT+5`` or ``US/Eastern`` aliases), sorted, with UTC first."""
    known = _known_zones()
    zones = sorted({zone for _country, zone in _zone_table() if zone in known})
    return (UTC_NAME, *zones)


@functools.cache
def country_timezone(country: str) -> str | None:
    """The country's principal zone when it is an obvious guess: every zone of the country is
    within an hour of it (Germany, Spain with the Canaries, Portugal with the Azores), so the
    guess is never more than an hour out. None for countries spanning more (the US, Canada,
    Brazil, Mexico): there the browser or the user must say."""
    zones = [zone for code, zone in _zone_table() if code == country.upper()]
    if not zones:
        return None
    # Compared in January and in July: both hemispheres' summer time is then in force.
    for month in (1, 7):
        moment = dt.datetime(2025, month, 15, 12)
        offsets = [moment.replace(tzinfo=ZoneInfo(zone)).utcoffset() for zone in zones]
        known = [offset for offset in offsets if offset is not None]
        if max(known) - min(known) > dt.timedelta(hours=1):
            return None
    return zones[0]


# --- what this request speaks --------------------------------------------------------------------
def _signed_in_user() -> User | None:
    if not has_request_context():
        return None
    user = current_user
    return user if user and user.is_authenticated else None


def _profile_country(user: User) -> str | None:
    """The HCP's country, read by id: the user object may have left its session by the time a
    page first formats a date (the audit page's verification starts sessions afresh)."""
    if user.role is not Role.HCP:
        return None
    # The session's loader reads the profile with the user; use it while it is there.
    state = sa_inspect(user)
    if not state.detached and "hcp_profile" not in state.unloaded:
        profile = state.attrs.hcp_profile.loaded_value
        return profile.country if isinstance(profile, HcpProfile) else None
    return db.session.scalar(select(HcpProfile.country).where(HcpProfile.user_id == user.id))


def select_locale() -> str:
    """The user's chosen language, else the browser's best match, else English."""
    supported = list(languages())
    user = _signed_in_user()
    if user is not None and user.locale in supported:
        return str(user.locale)
    if has_request_context():
        best = request.accept_languages.best_match(supported)
        if best:
            return best
    return str(current_app.config.get("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE))


def browser_timezone() -> str | None:
    """The zone the browser reported in the ``tz`` cookie, if it is a real zone."""
    if not has_request_context():
        return None
    return valid_timezone(request.cookies.get(TZ_COOKIE))


def select_timezone() -> str:
    """The user's chosen zone, else the browser's, else their country's obvious one, else UTC."""
    user = _signed_in_user()
    if user is not None:
        chosen = valid_timezone(user.timezone)
        if chosen:
            return chosen
    from_browser = browser_timezone()
    if from_browser:
        return from_browser
    country = _profile_country(user) if user is not None else None
    if country:
        guessed = country_timezone(country)
        if guessed:
            return guessed
    return UTC_NAME


def current_timezone() -> ZoneInfo:
    """The zone this request shows times in (UTC outside a request)."""
    tzinfo = flask_babel.get_timezone()
    name = getattr(tzinfo, "zone", None) or str(tzinfo or UTC_NAME)
    return ZoneInfo(valid_timezone(name) or UTC_NAME)


def current_locale() -> str:
    """The language code of this request (``de``), for ``<html lang>`` and JavaScript."""
    return str(flask_babel.get_locale() or DEFAULT_LOCALE)


@contextlib.contextmanager
def for_user(locale: str | None, timezone: str | None) -> Iterator[None]:
    """Write in another person's language and zone for a while: mail to a recipient, rendered
    in whatever request or job is sending it."""
    supported = languages()
    wanted = locale if locale in supported else current_app.config["BABEL_DEFAULT_LOCALE"]
    zone = valid_timezone(timezone) or UTC_NAME
    ctx = flask_babel._get_current_context()
    saved = getattr(ctx, "babel_tzinfo", None) if ctx is not None else None
    with flask_babel.force_locale(wanted):
        if ctx is not None:
            ctx.babel_tzinfo = _pytz_zone(zone)
        try:
            yield
        finally:
            if ctx is not None:
                if saved is None:
                    vars(ctx).pop("babel_tzinfo", None)
                else:
                    ctx.babel_tzinfo = saved


def _pytz_zone(name: str) -> Any:
    return pytz.timezone(name)  # what Flask-Babel converts with


# --- entering dates in one's own zone ------------------------------------------------------------
class NonexistentLocalTime(ValueError):
    """A wall-clock time that the zone skips (the hour clocks spring forward)."""


def local_to_utc(moment: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """A wall-clock time typed by a person in ``zone`` as an aware UTC time.

    In the hour clocks go back, the earlier of the two moments is meant; a time in the hour
    clocks skip raises :class:`NonexistentLocalTime` rather than silently moving it.
    """
    if moment.tzinfo is not None:
        return moment.astimezone(dt.UTC)
    local = moment.replace(tzinfo=zone, fold=0)
    converted = local.astimezone(dt.UTC)
    if converted.astimezone(zone).replace(tzinfo=None) != moment:
        raise NonexistentLocalTime(
            f"{moment:%Y-%m-%d %H:%M} does not exist in {zone.key}: the clocks skip that hour."
        )
    return converted


def utc_to_local(moment: dt.datetime | None, zone: ZoneInfo) -> dt.datetime | None:
    """A stored time as the naive wall-clock time a form shows in ``zone``."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(zone).replace(tzinfo=None)


def zone_label(zone: ZoneInfo | None = None) -> str:
    """The zone's IANA name for a form label ("Europe/Berlin")."""
    return (zone or current_timezone()).key


# --- display --------------------------------------------------------------------------------
def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _datetime_pattern(*, zone: bool, seconds: bool = False) -> str:
    locale: Locale = flask_babel.get_locale() or Locale.parse(DEFAULT_LOCALE)
    date_pattern = locale.date_formats["medium"].pattern
    time_pattern = locale.time_formats["medium" if seconds else "short"].pattern
    joined = str(locale.datetime_formats["medium"]).replace("{1}", date_pattern)
    joined = joined.replace("{0}", time_pattern)
    return f"{joined} z" if zone else joined


def format_datetime(value: dt.datetime | None, *, zone: bool = True, seconds: bool = False) -> str:
    """A moment in the user's zone and language, with the zone's abbreviation: the reader
    compares it with clocks elsewhere (due times, sign-ins, the audit trail)."""
    if value is None:
        return ""
    return flask_babel.format_datetime(_aware(value), _datetime_pattern(zone=zone, seconds=seconds))


def format_date(value: dt.date | dt.datetime | None, format: str = "medium") -> str:
    """A day in the user's language; a moment is first moved to the user's zone (a question
    sent at 23:30 UTC was sent the next day in Berlin)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return flask_babel.format_date(flask_babel.to_user_timezone(_aware(value)), format)
    return flask_babel.format_date(value, format)


def format_time(value: dt.datetime | None, *, zone: bool = True) -> str:
    """A moment's time of day in the user's zone (24- or 12-hour as the language has it)."""
    if value is None:
        return ""
    locale: Locale = flask_babel.get_locale() or Locale.parse(DEFAULT_LOCALE)
    pattern = locale.time_formats["short"].pattern
    return flask_babel.format_datetime(_aware(value), f"{pattern} z" if zone else pattern)


def format_relative(value: dt.datetime | None, *, now: dt.datetime | None = None) -> str:
    """How long ago or until a moment, in words ("3 hours ago", "in 2 days", "vor 3 Stunden")."""
    if value is None:
        return ""
    reference = now or dt.datetime.now(dt.UTC)
    return flask_babel.format_timedelta(
        _aware(value) - reference, add_direction=True, threshold=0.9
    )


def init_app(app: Flask) -> None:
    """Install Flask-Babel with the portal's selectors, the date filters and the page globals."""
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters.update(
        datetime=format_datetime,
        date=format_date,
        time=format_time,
        relative=format_relative,
        # A specialty or therapeutic area (stored in English) in the reader's language.
        area=specialty_label,
    )
    app.context_processor(
        lambda: {
            "current_locale": current_locale,
            "current_timezone_name": lambda: current_timezone().key,
        }
    )
