"""Calendar invitations (iCalendar, RFC 5545) for meetings, written by hand: one event, a few
properties, no dependency.

What goes in is the caller's choice and is kept to the minimum necessary: the summary names the
kind of meeting and the two people, never a topic or any medical text; the description points to
the portal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum

PRODUCT_ID = "-//HCP Portal//Meetings//EN"
MIME_TYPE = "text/calendar"
_FOLD_AT = 75  # octets per line, CRLF excluded (RFC 5545, 3.1)


class Method(enum.StrEnum):
    """What the invitation asks of the calendar: add or update the event, or remove it."""

    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


@dataclasses.dataclass(frozen=True)
class Person:
    name: str
    email: str


@dataclasses.dataclass(frozen=True)
class Event:
    """One meeting as a calendar sees it. ``uid`` stays the same for the meeting's whole life, so
    a cancellation removes the event its invitation added; ``sequence`` grows with each change."""

    uid: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    summary: str
    description: str
    organizer: Person
    attendees: tuple[Person, ...]
    stamp: dt.datetime
    sequence: int = 0
    location: str = ""


def _utc(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _text(value: str) -> str:
    """A TEXT value, escaped (RFC 5545, 3.3.11)."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _parameter(value: str) -> str:
    """A parameter value (a common name): quoted, without the characters a quoted value cannot
    hold."""
    cleaned = "".join(c for c in value if c not in '"\r\n' and (c == "\t" or ord(c) >= 32))
    return f'"{cleaned}"'


def _fold(line: str) -> str:
    """Split a content line into lines of at most 75 octets, never inside a UTF-8 character;
    each continuation starts with a space."""
    encoded = line.encode("utf-8")
    if len(encoded) <= _FOLD_AT:
        return line
    parts: list[str] = []
    current = ""
    size = 0
    limit = _FOLD_AT
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            parts.append(current)
            current, size, limit = "", 0, _FOLD_AT - 1  # the leading space takes one octet
        current += char
        size += width
    parts.append(current)
    return "\r\n ".join(parts)


def _person(prop: str, person: Person, extra: str = "") -> str:
    return f"{prop};CN={_parameter(person.name)}{extra}:mailto:{person.email}"


def calendar(event: Event, method: Method) -> str:
    """The ``.ics`` text of ``event`` for ``method``: CRLF line ends, folded lines, times in
    UTC."""
    cancelled = method is Method.CANCEL
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODUCT_ID}",
        "CALSCALE:GREGORIAN",
        f"METHOD:{method.value}",
        "BEGIN:VEVENT",
        f"UID:{event.uid}",
        f"SEQUENCE:{event.sequence}",
        f"DTSTAMP:{_utc(event.stamp)}",
        f"DTSTART:{_utc(event.starts_at)}",
        f"DTEND:{_utc(event.ends_at)}",
        f"SUMMARY:{_text(event.summary)}",
        f"DESCRIPTION:{_text(event.description)}",
    ]
    if event.location:
        lines.append(f"LOCATION:{_text(event.location)}")
    lines.append(_person("ORGANIZER", event.organizer))
    # Both agreed to the time; a cancellation only names whom it concerns.
    status = "" if cancelled else ";PARTSTAT=ACCEPTED"
    lines += [
        _person("ATTENDEE", person, f";ROLE=REQ-PARTICIPANT{status}") for person in event.attendees
    ]
    lines += [
        f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
        "TRANSP:OPAQUE",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(_fold(line) + "\r\n" for line in lines)


def mime_type(method: Method) -> str:
    """The attachment's MIME type, with the method calendar clients read from it."""
    return f"{MIME_TYPE}; method={method.value}"
