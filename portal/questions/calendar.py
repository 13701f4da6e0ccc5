"""Business time: when a question is due, and how much business time has passed since.

Pure arithmetic: nothing here reads the clock, the database or the request. Callers pass the
moment a question arrived (usually ``utcnow()``) and a :class:`BusinessCalendar` built from the
administrator's settings, and get an aware UTC datetime back.

Semantics
---------
- Every datetime passed in must be timezone-aware; a naive one raises ``ValueError`` rather than
  being guessed at. Every datetime returned is aware and in UTC.
- Business time runs only on business days (a weekday not in ``weekend``, not in ``holidays``
  and not a public holiday of ``country``) from ``opens`` to ``closes``, in the local wall-clock
  time of ``timezone`` (an IANA name). Arithmetic happens in local wall time and is converted to
  UTC at the end, so a daylight-saving change over a weekend moves the UTC result by an hour but
  never the local one:
  Friday 15:00 + 4 business hours is Monday 11:00 local on either side of the change.
- Because business hours are counted on the wall clock, a business day is always
  ``hours_per_day`` long, even in the (unusual) case of business hours spanning the 02:00 change
  itself. A result that falls in the hour skipped in spring is read with the offset before the
  change (so 02:30 becomes 03:30 summer time); one in the repeated autumn hour is its first
  occurrence.
- :meth:`BusinessCalendar.next_business_moment` is the moment itself when it is inside business
  hours (``opens`` inclusive, ``closes`` exclusive), else the next opening.
- :meth:`BusinessCalendar.add_business_hours` starts from the next business moment and consumes
  the hours; time that runs out exactly at closing ends *at* closing, not at the next opening.
  Friday 15:00 + 4 h → Monday 11:00; Saturday 10:00 + 4 h → Monday 13:00; a Monday holiday
  pushes that to Tuesday.
- :meth:`BusinessCalendar.add_business_days` is ``add_business_hours(start, n * hours_per_day)``
  (computed exactly): Friday 16:00 + 1 day → Monday 16:00; Saturday + 1 day → Monday 17:00;
  Wednesday 08:00 + 2 days → Thursday 17:00.
- :meth:`BusinessCalendar.business_hours_between` is the business time from ``a`` to ``b`` in
  hours, negative when ``b`` is before ``a``; for "overdue by 3 business hours" and reports.
- A calendar with no business time for years (a holiday list covering them) would make a due
  time meaningless: any search that must look more than three years past its start raises
  ``ValueError`` instead of looping.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as public_holidays

__all__ = [
    "HORIZON",
    "BusinessCalendar",
    "Sla",
    "SlaUnit",
    "parse_holidays",
    "parse_named_holidays",
    "public_calendar",
    "public_holiday_names",
]

# How far ahead any search may look before giving up: about three years.
HORIZON = dt.timedelta(days=3 * 366)

_ONE_DAY = dt.timedelta(days=1)
_ONE_HOUR = dt.timedelta(hours=1)


class SlaUnit(enum.StrEnum):
    """The unit an SLA is measured in."""

    HOURS = "hours"
    DAYS = "days"


@dataclass(frozen=True)
class Sla:
    """How long a question may wait: a whole number (at least 1) of business hours or days.

    ``unit`` may be given as its string value (as stored in the database); it is converted to a
    :class:`SlaUnit`. An amount below 1 or an unknown unit raises ``ValueError``.
    """

    amount: int
    unit: SlaUnit

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 1:
            raise ValueError(
                f"an SLA amount must be a whole number of at least 1, not {self.amount!r}"
            )
        try:
            unit = SlaUnit(self.unit)
        except ValueError:
            raise ValueError(
                f"unknown SLA unit {self.unit!r}; expected one of "
                + ", ".join(u.value for u in SlaUnit)
            ) from None
        object.__setattr__(self, "unit", unit)

    def describe(self) -> str:
        """The SLA in words: "4 business hours", "1 business day"."""
        noun = "hour" if self.unit is SlaUnit.HOURS else "day"
        plural = "" if self.amount == 1 else "s"
        return f"{self.amount} business {noun}{plural}"


@dataclass(frozen=True)
class BusinessCalendar:
    """When the business works: days, opening hours and holidays, in one time zone.

    ``holidays`` are the days an administrator listed (company days); ``country`` (an ISO 3166
    alpha-2 code such as ``"US"``, or ``None``) adds that country's national public holidays
    from the ``holidays`` package, for any year, without anyone typing them in.

    Construction raises ``ValueError`` for an unknown time zone, ``opens`` not before
    ``closes``, opening times carrying a time zone, weekend values outside 0-6 (Monday-Sunday,
    as :meth:`datetime.date.weekday`), a weekend of all seven days, holidays that are not
    dates, or a country the ``holidays`` package has no calendar for. ``weekend`` and
    ``holidays`` may be given as any iterable; they are stored frozen.
    """

    timezone: str = "America/New_York"
    opens: dt.time = dt.time(9)
    closes: dt.time = dt.time(17)
    weekend: frozenset[int] = frozenset({5, 6})
    holidays: frozenset[dt.date] = frozenset()
    country: str | None = None
    # The country's public holidays; fills itself year by year as days are looked up.
    _public: public_holidays.HolidayBase | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
            raise ValueError(
                f"unknown time zone {self.timezone!r}; use an IANA name such as 'America/New_York'"
            ) from None
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError(
                "opening and closing times are local wall-clock times of the calendar's "
                "time zone; give them without a tzinfo"
            )
        if self.opens >= self.closes:
            raise ValueError(
                f"the opening time ({self.opens:%H:%M}) must be before the closing time "
                f"({self.closes:%H:%M})"
            )
        weekend = frozenset(self.weekend)
        if not all(isinstance(d, int) and 0 <= d <= 6 for d in weekend):
            raise ValueError(
                f"weekend days must be weekday numbers 0 (Monday) to 6 (Sunday), not "
                f"{sorted(weekend, key=str)}"
            )
        if len(weekend) == 7:
            raise ValueError(
                "every day of the week is a weekend day; a calendar needs at least one working day"
            )
        holidays = frozenset(self.holidays)
        if not all(isinstance(d, dt.date) and not isinstance(d, dt.datetime) for d in holidays):
            raise ValueError("holidays must be dates (datetime.date), not datetimes or strings")
        object.__setattr__(self, "weekend", weekend)
        object.__setattr__(self, "holidays", holidays)
        if self.country is not None:
            object.__setattr__(self, "_public", public_calendar(self.country))

    # -- facts about days -------------------------------------------------------------------

    def is_business_day(self, day: dt.date) -> bool:
        """Whether ``day`` (a local date) has business hours: not weekend, not a holiday (a
        company day or a public holiday of ``country``)."""
        if isinstance(day, dt.datetime):
            raise TypeError("is_business_day takes a date; convert a datetime to local time first")
        if day.weekday() in self.weekend or day in self.holidays:
            return False
        return self._public is None or day not in self._public

    @property
    def hours_per_day(self) -> float:
        """The length of a business day in hours (8.0 for 09:00-17:00)."""
        return self._day_length / _ONE_HOUR

    # -- arithmetic -------------------------------------------------------------------------

    def next_business_moment(self, at: dt.datetime) -> dt.datetime:
        """``at`` (in UTC) if it is inside business hours, else the next opening time.

        Closing time itself is outside business hours. Raises ``ValueError`` if ``at`` is naive
        or no business day comes within :data:`HORIZON`.
        """
        wall = self._to_wall(at, "at")
        return self._to_utc(self._next_wall_moment(wall, wall.date() + HORIZON))

    def add_business_hours(self, start: dt.datetime, hours: float) -> dt.datetime:
        """The moment (in UTC) ``hours`` of business time after ``start``.

        Counting begins at :meth:`next_business_moment`; time running out exactly at closing
        ends at closing. Raises ``ValueError`` for a naive ``start``, negative or non-finite
        ``hours``, or a result more than :data:`HORIZON` ahead.
        """
        if not math.isfinite(hours) or hours < 0:
            raise ValueError(f"business hours to add must be a finite number ≥ 0, not {hours!r}")
        return self._add(start, dt.timedelta(hours=hours))

    def add_business_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """The moment (in UTC) ``days`` business days after ``start``.

        Exactly ``add_business_hours(start, days * hours_per_day)``: Friday 16:00 + 1 day is
        Monday 16:00, and a start outside business hours ends at a closing time. Raises
        ``ValueError`` for a naive ``start``, a negative or non-integer ``days``, or a result more
        than :data:`HORIZON` ahead.
        """
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise ValueError(f"business days to add must be a whole number ≥ 0, not {days!r}")
        return self._add(start, days * self._day_length)

    def due_at(self, start: dt.datetime, sla: Sla) -> dt.datetime:
        """When a question received at ``start`` is due under ``sla`` (aware, UTC).

        ``sla.amount`` is at least 1 (:class:`Sla` refuses anything else on construction).
        Raises ``ValueError`` for a naive ``start`` or a due time beyond :data:`HORIZON`.
        """
        if sla.unit is SlaUnit.HOURS:
            return self.add_business_hours(start, sla.amount)
        return self.add_business_days(start, sla.amount)

    def business_hours_between(self, a: dt.datetime, b: dt.datetime) -> float:
        """Business time from ``a`` to ``b`` in hours; negative when ``b`` is before ``a``.

        The inverse of :meth:`add_business_hours` for a start inside business hours. Raises
        ``ValueError`` if either is naive.
        """
        wall_a = self._to_wall(a, "a")
        wall_b = self._to_wall(b, "b")
        if b < a:  # compare instants: wall times can run backwards in the repeated autumn hour
            return -self.business_hours_between(b, a)
        total = dt.timedelta(0)
        day = wall_a.date()
        while day <= wall_b.date():
            if self.is_business_day(day):
                lo = max(wall_a, dt.datetime.combine(day, self.opens))
                hi = min(wall_b, dt.datetime.combine(day, self.closes))
                if hi > lo:
                    total += hi - lo
            day += _ONE_DAY
        return total / _ONE_HOUR

    # -- internals --------------------------------------------------------------------------

    @property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)  # ZoneInfo caches instances by key

    @property
    def _day_length(self) -> dt.timedelta:
        today = dt.date(2000, 1, 3)  # any date: opens and closes are naive wall times
        return dt.datetime.combine(today, self.closes) - dt.datetime.combine(today, self.opens)

    def _to_wall(self, moment: dt.datetime, name: str) -> dt.datetime:
        """``moment`` as a naive local wall-clock time of the calendar's zone."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
        return moment.astimezone(self._zone).replace(tzinfo=None, fold=0)

    def _to_utc(self, wall: dt.datetime) -> dt.datetime:
        return wall.replace(tzinfo=self._zone).astimezone(dt.UTC)

    def _next_business_day(self, day: dt.date, limit: dt.date) -> dt.date:
        """``day`` if it is a business day, else the first one after it, up to ``limit``."""
        while not self.is_business_day(day):
            day += _ONE_DAY
            if day > limit:
                raise _beyond(limit)
        return day

    def _next_wall_moment(self, wall: dt.datetime, limit: dt.date) -> dt.datetime:
        if self.is_business_day(wall.date()):
            if wall.time() < self.opens:
                return dt.datetime.combine(wall.date(), self.opens)
            if wall.time() < self.closes:
                return wall
        day = self._next_business_day(wall.date() + _ONE_DAY, limit)
        return dt.datetime.combine(day, self.opens)

    def _add(self, start: dt.datetime, remaining: dt.timedelta) -> dt.datetime:
        wall = self._to_wall(start, "start")
        limit = wall.date() + HORIZON
        wall = self._next_wall_moment(wall, limit)
        while True:
            left_today = dt.datetime.combine(wall.date(), self.closes) - wall
            if remaining <= left_today:
                return self._to_utc(wall + remaining)
            remaining -= left_today
            day = self._next_business_day(wall.date() + _ONE_DAY, limit)
            if day > limit:
                raise _beyond(limit)
            wall = dt.datetime.combine(day, self.opens)


def _beyond(limit: dt.date) -> ValueError:
    return ValueError(
        f"business time searched past {limit.isoformat()}, the limit of {HORIZON.days} days "
        "(about three years) ahead; the amount is too large or the weekend and holidays leave "
        "no business days"
    )


def public_calendar(country: str) -> public_holidays.HolidayBase:
    """The national public holidays of ``country`` (ISO 3166 alpha-2), any year, offline.

    Raises ``ValueError`` for a country the ``holidays`` package has no calendar for.
    """
    try:
        return public_holidays.country_holidays(country)
    except NotImplementedError:
        raise ValueError(f"no public holiday calendar for country {country!r}") from None


def public_holiday_names(country: str, start: dt.date, end: dt.date) -> list[tuple[dt.date, str]]:
    """The public holidays of ``country`` from ``start`` to ``end`` (inclusive), in date order."""
    found = public_calendar(country)
    for year in range(start.year, end.year + 1):
        found.get(dt.date(year, 1, 1))  # a look-up fills in its year
    return sorted((day, str(name)) for day, name in found.items() if start <= day <= end)


_HOLIDAY_LINE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[\s,;]+(.*))?")


def parse_holidays(text: str) -> frozenset[dt.date]:
    """The dates in a pasted holiday list, one per line: ``YYYY-MM-DD [name]``.

    ``#`` starts a comment (a whole line or the rest of one); blank lines are skipped, and the
    date may be followed by a comma, semicolon or spaces before the name, as spreadsheets paste
    it. Duplicates are fine. Raises ``ValueError`` naming the line number and text of the first
    line that is not a valid date.
    """
    return frozenset(parse_named_holidays(text))


def parse_named_holidays(text: str) -> dict[dt.date, str]:
    """Like :func:`parse_holidays`, keeping each date's name ("" when none is given).

    When a date appears twice the later line's name wins.
    """
    found: dict[dt.date, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _HOLIDAY_LINE.fullmatch(line)
        if match is None:
            raise ValueError(
                f"line {number}: {raw.strip()!r} does not start with a date in YYYY-MM-DD form"
            )
        try:
            day = dt.date.fromisoformat(match.group(1))
        except ValueError:
            raise ValueError(
                f"line {number}: {match.group(1)!r} is not a real date in YYYY-MM-DD form"
            ) from None
        found[day] = (match.group(2) or "").strip()
    return found
