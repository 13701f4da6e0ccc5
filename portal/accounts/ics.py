"""Calendar invitations (iCalendar, RFC 5545) for meetings, written with the ``icalendar``
library (escaping, line folding and time formats are its job): one event, a few properties.

What goes in is the caller's choice and is kept to the minimum necessary: the summary names the
kind of meeting and the two people, never a topic or any medical text; the description points to
the portal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum

import icalendar
from icalendar import vCalAddress, vText

PRODUCT_ID = "-//HCP Portal//Meetings//EN"
MIME_TYPE = "text/calendar"


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


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _address(person: Person, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    address.params["CN"] = vText(person.name)
    for name, value in params.items():
        address.params[name] = vText(value)
    return address


def calendar(event: Event, method: Method) -> str:
    """The ``.ics`` text of ``event`` for ``method``: CRLF line ends, folded lines, escaped
    text and times in UTC, written by the ``icalendar`` library."""
    cancelled = method is Method.CANCEL
    entry = icalendar.Event()
    entry.add("uid", event.uid)
    entry.add("sequence", event.sequence)
    entry.add("dtstamp", _utc(event.stamp))
    entry.add("dtstart", _utc(event.starts_at))
    entry.add("dtend", _utc(event.ends_at))
    entry.add("summary", event.summary)
    entry.add("description", event.description)
    if event.location:
        entry.add("location", event.location)
    entry.add("organizer", _address(event.organizer))
    # Both agreed to the time; a cancellation only names whom it concerns.
    accepted = {} if cancelled else {"PARTSTAT": "ACCEPTED"}
    for person in event.attendees:
        entry.add("attendee", _address(person, ROLE="REQ-PARTICIPANT", **accepted))
    entry.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    entry.add("transp", "OPAQUE")
    document = icalendar.Calendar()
    document.add("prodid", PRODUCT_ID)
    document.add("version", "2.0")
    document.add("calscale", "GREGORIAN")
    document.add("method", method.value)
    document.add_component(entry)
    return document.to_ical().decode("utf-8")


def mime_type(method: Method) -> str:
    """The attachment's MIME type, with the method calendar clients read from it."""
    return f"{MIME_TYPE}; method={method.value}"
