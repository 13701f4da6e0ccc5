"""Business-time arithmetic in portal.questions.calendar: pure, no app, tables of cases.

Dates in the tables are June 2026 unless a case is about daylight saving:
Mon 1, Tue 2, Wed 3, Thu 4, Fri 5, Sat 6, Sun 7, Mon 8, Tue 9, Wed 10, Thu 11.
Expected times are local wall time in the calendar's zone; every result must also be UTC.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from portal.models.base import utcnow
from portal.questions.calendar import (
    HORIZON,
    BusinessCalendar,
    Sla,
    SlaUnit,
    parse_holidays,
    parse_named_holidays,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")

NEW_YORK = BusinessCalendar()
MONDAY_HOLIDAY = BusinessCalendar(holidays=frozenset({dt.date(2026, 6, 8)}))
CHRISTMAS = BusinessCalendar(holidays=frozenset({dt.date(2026, 12, 24), dt.date(2026, 12, 25)}))
GERMANY = BusinessCalendar(timezone="Europe/Berlin")
HALF_PAST = BusinessCalendar(closes=dt.time(17, 30))
# A Sunday-Thursday week.
ISRAEL = BusinessCalendar(timezone="Asia/Jerusalem", weekend=frozenset({4, 5}))
# Business hours that span the 02:00 daylight-saving change, every day.
NIGHT_SHIFT = BusinessCalendar(opens=dt.time(0), closes=dt.time(6), weekend=frozenset())


def june(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A New York wall time in June 2026."""
    return dt.datetime(2026, 6, day, hour, minute, tzinfo=NY)


def local(result: dt.datetime, calendar: BusinessCalendar) -> dt.datetime:
    """The result as the calendar's wall time, after checking it is UTC."""
    assert result.tzinfo is dt.UTC
    return result.astimezone(ZoneInfo(calendar.timezone)).replace(tzinfo=None)


def wall(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 6, day, hour, minute)


# -- add_business_hours ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "start", "hours", "expected"),
    [
        pytest.param(NEW_YORK, june(5, 15), 4, wall(8, 11), id="friday-afternoon-to-monday"),
        pytest.param(NEW_YORK, june(6, 10), 4, wall(8, 13), id="saturday-counts-from-monday"),
        pytest.param(NEW_YORK, june(7, 23, 59), 1, wall(8, 10), id="sunday-night"),
        pytest.param(MONDAY_HOLIDAY, june(6, 10), 4, wall(9, 13), id="monday-holiday-to-tuesday"),
        pytest.param(MONDAY_HOLIDAY, june(5, 15), 4, wall(9, 11), id="friday-over-long-weekend"),
        pytest.param(NEW_YORK, june(1, 7, 30), 2, wall(1, 11), id="before-opening"),
        pytest.param(NEW_YORK, june(1, 18), 2, wall(2, 11), id="after-closing"),
        pytest.param(NEW_YORK, june(1, 17), 1, wall(2, 10), id="at-closing-is-after-hours"),
        pytest.param(NEW_YORK, june(1, 9), 1, wall(1, 10), id="at-opening"),
        pytest.param(NEW_YORK, june(1, 13), 4, wall(1, 17), id="ends-exactly-at-closing"),
        pytest.param(NEW_YORK, june(1, 9), 8, wall(1, 17), id="whole-day-ends-at-closing"),
        pytest.param(NEW_YORK, june(1, 9), 16, wall(2, 17), id="two-whole-days"),
        pytest.param(NEW_YORK, june(1, 16, 30), 20, wall(4, 12, 30), id="multi-day-span"),
        pytest.param(NEW_YORK, june(4, 14), 12, wall(8, 10), id="multi-day-over-weekend"),
        pytest.param(NEW_YORK, june(1, 9), 1.5, wall(1, 10, 30), id="fractional-hours"),
        pytest.param(NEW_YORK, june(7, 12), 0, wall(8, 9), id="zero-is-next-business-moment"),
        pytest.param(NEW_YORK, june(3, 11), 0, wall(3, 11), id="zero-inside-hours-is-start"),
        pytest.param(HALF_PAST, june(5, 17), 1, wall(8, 9, 30), id="closing-at-half-past"),
        pytest.param(
            ISRAEL,
            dt.datetime(2026, 6, 4, 15, tzinfo=ZoneInfo("Asia/Jerusalem")),
            4,
            wall(7, 11),
            id="thursday-to-sunday-in-israel",
        ),
    ],
)
def test_add_business_hours(
    calendar: BusinessCalendar, start: dt.datetime, hours: float, expected: dt.datetime
) -> None:
    assert local(calendar.add_business_hours(start, hours), calendar) == expected


def test_two_day_holiday_pushes_past_both_days() -> None:
    start = dt.datetime(2026, 12, 23, 16, tzinfo=NY)  # a Wednesday before Christmas
    result = CHRISTMAS.add_business_hours(start, 2)
    assert local(result, CHRISTMAS) == dt.datetime(2026, 12, 28, 10)  # the next Monday


# -- add_business_days ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "start", "days", "expected"),
    [
        pytest.param(NEW_YORK, june(5, 16), 1, wall(8, 16), id="friday-to-monday-same-time"),
        pytest.param(NEW_YORK, june(6, 11), 1, wall(8, 17), id="saturday-ends-monday-close"),
        pytest.param(NEW_YORK, june(7, 3), 1, wall(8, 17), id="sunday-ends-monday-close"),
        pytest.param(NEW_YORK, june(3, 8), 2, wall(4, 17), id="before-opening-ends-at-close"),
        pytest.param(NEW_YORK, june(3, 12), 2, wall(5, 12), id="midweek-same-time"),
        pytest.param(NEW_YORK, june(4, 12), 2, wall(8, 12), id="thursday-over-weekend"),
        pytest.param(NEW_YORK, june(1, 17), 1, wall(2, 17), id="at-closing-counts-next-day"),
        pytest.param(NEW_YORK, june(1, 9), 5, wall(5, 17), id="a-whole-week"),
        pytest.param(MONDAY_HOLIDAY, june(5, 16), 1, wall(9, 16), id="monday-holiday"),
        pytest.param(HALF_PAST, june(5, 16), 1, wall(8, 16), id="eight-and-a-half-hour-days"),
    ],
)
def test_add_business_days(
    calendar: BusinessCalendar, start: dt.datetime, days: int, expected: dt.datetime
) -> None:
    assert local(calendar.add_business_days(start, days), calendar) == expected


@pytest.mark.parametrize("days", [1, 2, 3, 7, 30])
def test_business_days_equal_hours_per_day(days: int) -> None:
    start = june(5, 16, 45)
    assert NEW_YORK.add_business_days(start, days) == NEW_YORK.add_business_hours(
        start, days * NEW_YORK.hours_per_day
    )


def test_day_of_awkward_length_ends_exactly_at_closing() -> None:
    # 7 h 20 min is not a whole number of microseconds in float hours; days are exact anyway.
    calendar = BusinessCalendar(closes=dt.time(16, 20))
    result = calendar.add_business_days(june(6, 10), 2)
    assert local(result, calendar) == wall(9, 16, 20)


@pytest.mark.parametrize(
    ("calendar", "expected"),
    [(NEW_YORK, 8.0), (HALF_PAST, 8.5), (NIGHT_SHIFT, 6.0)],
)
def test_hours_per_day(calendar: BusinessCalendar, expected: float) -> None:
    assert calendar.hours_per_day == expected


# -- daylight saving, other zones, UTC input ------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "start", "sla", "expected_utc"),
    [
        pytest.param(
            NEW_YORK,
            dt.datetime(2026, 3, 6, 15, tzinfo=NY),  # Fri, EST (20:00 UTC)
            Sla(4, SlaUnit.HOURS),
            dt.datetime(2026, 3, 9, 15, tzinfo=dt.UTC),  # Mon 11:00 EDT
            id="new-york-spring-forward-hours",
        ),
        pytest.param(
            NEW_YORK,
            dt.datetime(2026, 3, 7, 10, tzinfo=NY),
            Sla(1, SlaUnit.DAYS),
            dt.datetime(2026, 3, 9, 21, tzinfo=dt.UTC),  # Mon 17:00 EDT
            id="new-york-spring-forward-day",
        ),
        pytest.param(
            NEW_YORK,
            dt.datetime(2026, 10, 30, 15, tzinfo=NY),  # Fri, EDT (19:00 UTC)
            Sla(4, SlaUnit.HOURS),
            dt.datetime(2026, 11, 2, 16, tzinfo=dt.UTC),  # Mon 11:00 EST
            id="new-york-fall-back-hours",
        ),
        pytest.param(
            NEW_YORK,
            dt.datetime(2026, 10, 30, 16, tzinfo=NY),
            Sla(1, SlaUnit.DAYS),
            dt.datetime(2026, 11, 2, 21, tzinfo=dt.UTC),  # Mon 16:00 EST
            id="new-york-fall-back-day",
        ),
        pytest.param(
            GERMANY,
            dt.datetime(2026, 3, 27, 15, tzinfo=BERLIN),  # Fri, CET (14:00 UTC)
            Sla(4, SlaUnit.HOURS),
            dt.datetime(2026, 3, 30, 9, tzinfo=dt.UTC),  # Mon 11:00 CEST
            id="berlin-spring-forward",
        ),
        pytest.param(
            GERMANY,
            dt.datetime(2026, 10, 23, 15, tzinfo=BERLIN),  # Fri, CEST (13:00 UTC)
            Sla(4, SlaUnit.HOURS),
            dt.datetime(2026, 10, 26, 10, tzinfo=dt.UTC),  # Mon 11:00 CET
            id="berlin-fall-back",
        ),
        pytest.param(
            NEW_YORK,
            dt.datetime(2026, 11, 27, 22, tzinfo=dt.UTC),  # Fri 17:00 EST: closing time
            Sla(4, SlaUnit.HOURS),
            dt.datetime(2026, 11, 30, 18, tzinfo=dt.UTC),  # Mon 13:00 EST
            id="utc-input-at-new-york-closing",
        ),
        pytest.param(
            GERMANY,
            dt.datetime(2026, 6, 5, 6, 30, tzinfo=dt.UTC),  # Fri 08:30 CEST
            Sla(1, SlaUnit.HOURS),
            dt.datetime(2026, 6, 5, 8, tzinfo=dt.UTC),  # Fri 10:00 CEST
            id="utc-input-before-berlin-opening",
        ),
        pytest.param(
            NEW_YORK,
            dt.datetime(2026, 6, 6, 5, tzinfo=ZoneInfo("Asia/Tokyo")),  # Fri 16:00 EDT
            Sla(2, SlaUnit.HOURS),
            dt.datetime(2026, 6, 8, 14, tzinfo=dt.UTC),  # Mon 10:00 EDT
            id="tokyo-saturday-is-new-york-friday",
        ),
    ],
)
def test_due_at_across_time_zones(
    calendar: BusinessCalendar, start: dt.datetime, sla: Sla, expected_utc: dt.datetime
) -> None:
    result = calendar.due_at(start, sla)
    assert result == expected_utc
    assert result.tzinfo is dt.UTC


@pytest.mark.parametrize(
    ("start", "hours", "expected_utc"),
    [
        # Wall-clock counting: 01:00 EST + 2 h is 03:00 EDT, one real hour later.
        pytest.param(
            dt.datetime(2026, 3, 8, 1, tzinfo=NY),
            2,
            dt.datetime(2026, 3, 8, 7, tzinfo=dt.UTC),
            id="spring-forward-inside-hours",
        ),
        # 02:30 does not exist that night; it is read as 03:30 EDT.
        pytest.param(
            dt.datetime(2026, 3, 8, 1, 30, tzinfo=NY),
            1,
            dt.datetime(2026, 3, 8, 7, 30, tzinfo=dt.UTC),
            id="spring-forward-skipped-hour",
        ),
        # 00:00 EDT + 3 h is 03:00 EST, four real hours later.
        pytest.param(
            dt.datetime(2026, 11, 1, 0, tzinfo=NY),
            3,
            dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC),
            id="fall-back-inside-hours",
        ),
    ],
)
def test_business_hours_are_wall_clock_hours_when_dst_changes_inside_them(
    start: dt.datetime, hours: float, expected_utc: dt.datetime
) -> None:
    assert NIGHT_SHIFT.add_business_hours(start, hours) == expected_utc


# -- next_business_moment -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "at", "expected"),
    [
        pytest.param(NEW_YORK, june(3, 11, 17), wall(3, 11, 17), id="inside-hours-is-itself"),
        pytest.param(NEW_YORK, june(3, 9), wall(3, 9), id="at-opening-is-itself"),
        pytest.param(NEW_YORK, june(3, 8, 59), wall(3, 9), id="before-opening"),
        pytest.param(NEW_YORK, june(3, 17), wall(4, 9), id="at-closing-is-next-opening"),
        pytest.param(NEW_YORK, june(5, 20), wall(8, 9), id="friday-evening"),
        pytest.param(NEW_YORK, june(6, 12), wall(8, 9), id="weekend"),
        pytest.param(MONDAY_HOLIDAY, june(8, 12), wall(9, 9), id="on-a-holiday"),
    ],
)
def test_next_business_moment(
    calendar: BusinessCalendar, at: dt.datetime, expected: dt.datetime
) -> None:
    assert local(calendar.next_business_moment(at), calendar) == expected


def test_next_business_moment_keeps_the_instant_inside_hours() -> None:
    at = dt.datetime(2026, 6, 3, 15, 17, 42, 123456, tzinfo=dt.UTC)
    assert NEW_YORK.next_business_moment(at) == at


# -- due_at and Sla -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sla", "expected"),
    [
        (Sla(4, SlaUnit.HOURS), wall(8, 11)),
        (Sla(1, SlaUnit.DAYS), wall(8, 15)),
        (Sla(2, SlaUnit.DAYS), wall(9, 15)),
    ],
)
def test_due_at_dispatches_on_the_unit(sla: Sla, expected: dt.datetime) -> None:
    assert local(NEW_YORK.due_at(june(5, 15), sla), NEW_YORK) == expected


@pytest.mark.parametrize(
    ("sla", "words"),
    [
        (Sla(1, SlaUnit.HOURS), "1 business hour"),
        (Sla(4, SlaUnit.HOURS), "4 business hours"),
        (Sla(1, SlaUnit.DAYS), "1 business day"),
        (Sla(2, SlaUnit.DAYS), "2 business days"),
    ],
)
def test_sla_describe(sla: Sla, words: str) -> None:
    assert sla.describe() == words


def test_sla_unit_given_as_stored_string_becomes_the_enum() -> None:
    sla = Sla(3, "days")  # type: ignore[arg-type]
    assert sla.unit is SlaUnit.DAYS
    assert sla == Sla(3, SlaUnit.DAYS)


@pytest.mark.parametrize("amount", [0, -1, True, 1.5])
def test_sla_amount_below_one_or_not_whole_is_refused(amount: object) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Sla(amount, SlaUnit.HOURS)  # type: ignore[arg-type]


def test_sla_unknown_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown SLA unit 'weeks'"):
        Sla(1, "weeks")  # type: ignore[arg-type]


# -- business_hours_between -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "a", "b", "hours"),
    [
        pytest.param(NEW_YORK, june(1, 10), june(1, 13, 30), 3.5, id="same-day"),
        pytest.param(NEW_YORK, june(1, 10), june(1, 10), 0.0, id="no-time"),
        pytest.param(NEW_YORK, june(1, 7), june(1, 20), 8.0, id="whole-day-from-outside"),
        pytest.param(NEW_YORK, june(1, 18), june(2, 8), 0.0, id="overnight-is-nothing"),
        pytest.param(NEW_YORK, june(6, 9), june(7, 17), 0.0, id="weekend-is-nothing"),
        pytest.param(NEW_YORK, june(5, 15), june(8, 11), 4.0, id="over-a-weekend"),
        pytest.param(MONDAY_HOLIDAY, june(5, 15), june(9, 11), 4.0, id="over-a-holiday"),
        pytest.param(NEW_YORK, june(1, 9), june(8, 9), 40.0, id="a-whole-week"),
        pytest.param(NEW_YORK, june(8, 11), june(5, 15), -4.0, id="negative-when-reversed"),
        pytest.param(
            NEW_YORK,
            dt.datetime(2026, 3, 6, 15, tzinfo=NY),
            dt.datetime(2026, 3, 9, 11, tzinfo=NY),
            4.0,
            id="over-spring-forward",
        ),
        pytest.param(
            GERMANY,
            dt.datetime(2026, 10, 23, 13, tzinfo=dt.UTC),  # Fri 15:00 CEST
            dt.datetime(2026, 10, 26, 10, tzinfo=dt.UTC),  # Mon 11:00 CET
            4.0,
            id="utc-input-over-berlin-fall-back",
        ),
    ],
)
def test_business_hours_between(
    calendar: BusinessCalendar, a: dt.datetime, b: dt.datetime, hours: float
) -> None:
    assert calendar.business_hours_between(a, b) == pytest.approx(hours)


def test_overdue_by_three_business_hours() -> None:
    received = june(5, 15)
    due = NEW_YORK.due_at(received, Sla(4, SlaUnit.HOURS))  # Monday 11:00
    assert NEW_YORK.business_hours_between(due, june(8, 14)) == 3.0


@pytest.mark.parametrize("start", [june(1, 9), june(3, 16, 59), june(5, 12, 15), june(7, 3)])
@pytest.mark.parametrize("hours", [0.25, 1, 8, 13.5, 40, 100])
def test_between_undoes_add_business_hours(start: dt.datetime, hours: float) -> None:
    moment = MONDAY_HOLIDAY.next_business_moment(start)
    end = MONDAY_HOLIDAY.add_business_hours(start, hours)
    assert MONDAY_HOLIDAY.business_hours_between(moment, end) == pytest.approx(hours)


# -- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"opens": dt.time(17), "closes": dt.time(9)}, "must be before", id="reversed"),
        pytest.param({"opens": dt.time(9), "closes": dt.time(9)}, "must be before", id="equal"),
        pytest.param({"weekend": frozenset(range(7))}, "at least one working day", id="all-week"),
        pytest.param({"weekend": frozenset({7})}, "0 \\(Monday\\) to 6", id="weekday-range"),
        pytest.param({"timezone": "Mars/Olympus_Mons"}, "unknown time zone", id="zone"),
        pytest.param({"timezone": "../etc/passwd"}, "unknown time zone", id="zone-path"),
        pytest.param(
            {"opens": dt.time(9, tzinfo=dt.UTC)}, "without a tzinfo", id="aware-opening-time"
        ),
        pytest.param({"holidays": frozenset({"2026-12-25"})}, "must be dates", id="holiday-str"),
        pytest.param(
            {"holidays": frozenset({dt.datetime(2026, 12, 25)})}, "must be dates", id="datetime"
        ),
    ],
)
def test_calendar_refuses_bad_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]


def test_calendar_freezes_sets_so_it_stays_hashable() -> None:
    calendar = BusinessCalendar(weekend={5, 6}, holidays={dt.date(2026, 12, 25)})  # type: ignore[arg-type]
    assert calendar.weekend == frozenset({5, 6})
    assert isinstance(calendar.holidays, frozenset)
    assert hash(calendar) == hash(BusinessCalendar(holidays=frozenset({dt.date(2026, 12, 25)})))


NAIVE = dt.datetime(2026, 6, 1, 10)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: NEW_YORK.next_business_moment(NAIVE), id="next_business_moment"),
        pytest.param(lambda: NEW_YORK.add_business_hours(NAIVE, 1), id="add_business_hours"),
        pytest.param(lambda: NEW_YORK.add_business_days(NAIVE, 1), id="add_business_days"),
        pytest.param(lambda: NEW_YORK.due_at(NAIVE, Sla(1, SlaUnit.DAYS)), id="due_at"),
        pytest.param(lambda: NEW_YORK.business_hours_between(NAIVE, june(1, 9)), id="between-a"),
        pytest.param(lambda: NEW_YORK.business_hours_between(june(1, 9), NAIVE), id="between-b"),
    ],
)
def test_naive_datetimes_are_refused(call: object) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call()  # type: ignore[operator]


@pytest.mark.parametrize("hours", [-1, -0.5, float("nan"), float("inf")])
def test_bad_hour_amounts_are_refused(hours: float) -> None:
    with pytest.raises(ValueError, match="finite number"):
        NEW_YORK.add_business_hours(june(1, 10), hours)


@pytest.mark.parametrize("days", [-1, 1.5, True])
def test_bad_day_amounts_are_refused(days: object) -> None:
    with pytest.raises(ValueError, match="whole number"):
        NEW_YORK.add_business_days(june(1, 10), days)  # type: ignore[arg-type]


def test_is_business_day_refuses_a_datetime() -> None:
    with pytest.raises(TypeError, match="takes a date"):
        NEW_YORK.is_business_day(june(1, 10))


@pytest.mark.parametrize(
    ("day", "expected"),
    [(dt.date(2026, 6, 5), True), (dt.date(2026, 6, 6), False), (dt.date(2026, 6, 8), False)],
)
def test_is_business_day(day: dt.date, expected: bool) -> None:
    assert MONDAY_HOLIDAY.is_business_day(day) is expected


# -- the search horizon ---------------------------------------------------------------------


def _weekdays(first: dt.date, count: int) -> frozenset[dt.date]:
    return frozenset(first + dt.timedelta(days=i) for i in range(count))


def test_holidays_covering_years_raise_instead_of_looping() -> None:
    calendar = BusinessCalendar(holidays=_weekdays(dt.date(2026, 6, 1), 4 * 366))
    with pytest.raises(ValueError, match="limit of 1098 days"):
        calendar.next_business_moment(june(1, 10))
    with pytest.raises(ValueError, match="limit of 1098 days"):
        calendar.due_at(june(1, 10), Sla(1, SlaUnit.DAYS))


def test_holidays_covering_two_years_are_skipped() -> None:
    calendar = BusinessCalendar(holidays=_weekdays(dt.date(2026, 6, 1), 2 * 366))
    first_day = dt.date(2026, 6, 1) + dt.timedelta(days=2 * 366)  # 2028-06-02, a Friday
    result = calendar.add_business_hours(june(1, 10), 1)
    assert local(result, calendar) == dt.datetime.combine(first_day, dt.time(10))


def test_a_result_beyond_the_horizon_raises() -> None:
    business_days_in_horizon = HORIZON.days * 5 // 7
    with pytest.raises(ValueError, match="the amount is too large"):
        NEW_YORK.add_business_days(june(1, 10), business_days_in_horizon + 10)


# -- parse_holidays -------------------------------------------------------------------------


def test_parse_holidays_reads_a_pasted_list() -> None:
    text = """
        # US holidays 2026
        2026-01-01 New Year's Day
        2026-05-25\tMemorial Day
        2026-07-03, Independence Day (observed)   # the 4th is a Saturday

        2026-11-26; Thanksgiving
        2026-12-25
        2026-12-25 Christmas Day (twice is fine)
    """
    assert parse_holidays(text) == frozenset(
        {
            dt.date(2026, 1, 1),
            dt.date(2026, 5, 25),
            dt.date(2026, 7, 3),
            dt.date(2026, 11, 26),
            dt.date(2026, 12, 25),
        }
    )


def test_parse_named_holidays_keeps_names() -> None:
    text = "2026-01-01 New Year's Day\n2026-07-03, Independence Day # observed\n2026-12-31\n"
    assert parse_named_holidays(text) == {
        dt.date(2026, 1, 1): "New Year's Day",
        dt.date(2026, 7, 3): "Independence Day",
        dt.date(2026, 12, 31): "",
    }


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing yet\n   \n"])
def test_parse_holidays_empty_list(text: str) -> None:
    assert parse_holidays(text) == frozenset()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("2026-01-01\n12/25/2026 Christmas", "line 2: '12/25/2026 Christmas'", id="us"),
        pytest.param("# list\n\n2026-02-30 Nope", "line 3: '2026-02-30' is not a real", id="feb"),
        pytest.param("Christmas 2026-12-25", "line 1:", id="name-first"),
        pytest.param("20261225", "line 1:", id="compact-iso"),
        pytest.param("2026-12-25Christmas", "line 1:", id="no-separator"),
    ],
)
def test_parse_holidays_names_the_bad_line(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_holidays(text)


def test_parsed_holidays_feed_a_calendar() -> None:
    calendar = BusinessCalendar(holidays=parse_holidays("2026-06-08 Company day\n"))
    assert calendar == MONDAY_HOLIDAY


# -- with the clock -------------------------------------------------------------------------


def test_question_received_on_friday_evening_is_due_on_monday() -> None:
    # Friday 27 November 2026, 17:00 in New York: closing time on the day after Thanksgiving.
    with time_machine.travel(dt.datetime(2026, 11, 27, 22, 0, tzinfo=dt.UTC), tick=False):
        received = utcnow()
        urgent_due = NEW_YORK.due_at(received, Sla(4, SlaUnit.HOURS))
        standard_due = NEW_YORK.due_at(dt.datetime.now(dt.UTC), Sla(2, SlaUnit.DAYS))
    assert local(urgent_due, NEW_YORK) == dt.datetime(2026, 11, 30, 13)  # Monday 13:00
    assert local(standard_due, NEW_YORK) == dt.datetime(2026, 12, 1, 17)  # Tuesday 17:00
    assert urgent_due.weekday() == 0
