"""How long each kind of record is kept: the periods in force, and changing them.

A period is a number of days per :class:`RecordKind`. The ``retention_periods`` table holds the
ones an administrator set; a kind without a row keeps the default of ``RETENTION_DEFAULT_DAYS``
(``portal/config.py``). The audit trail has no period: it is kept (a hash chain cannot lose its
start without a checkpoint; see ``docs/records.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from portal import audit, policy
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import User, utcnow
from portal.retention.models import RecordKind, RetentionPeriod
from portal.unit_of_work import transactional

# A hundred years: a longer period is a typing mistake, and the cutoff must stay a valid date.
MAX_DAYS = 36500
# The ordinary kinds the safety period stands in for (safety-linked conversations and
# questions): it may never be shorter than theirs.
SAFETY_COVERS = (RecordKind.CONVERSATIONS, RecordKind.QUESTIONS)


class RetentionConfigError(RuntimeError):
    """``RETENTION_DEFAULT_DAYS`` or ``RETENTION_SAFETY_MINIMUM_DAYS`` is unusable (a default
    outside 1..``MAX_DAYS``, or a safety period below the regulatory minimum)."""


def safety_minimum_days() -> int:
    """The regulatory floor of the safety period (``RETENTION_SAFETY_MINIMUM_DAYS``)."""
    return int(current_app.config["RETENTION_SAFETY_MINIMUM_DAYS"])


def check_config(config: Mapping[str, Any]) -> None:
    """Refuse to start with retention defaults the page would refuse: every kind needs a
    default of 1..``MAX_DAYS`` days, and the safety-linked one at least
    ``RETENTION_SAFETY_MINIMUM_DAYS`` and at least the conversations' and questions' defaults.
    Raises :class:`RetentionConfigError` naming the environment variables to fix."""
    minimum = config.get("RETENTION_SAFETY_MINIMUM_DAYS")
    if not isinstance(minimum, int) or not 1 <= minimum <= MAX_DAYS:
        raise RetentionConfigError(
            f"RETENTION_SAFETY_MINIMUM_DAYS must be a whole number of days from 1 to {MAX_DAYS}"
            f" (it is {minimum!r})."
        )
    defaults = config.get("RETENTION_DEFAULT_DAYS") or {}
    problems: list[str] = []
    for kind in RecordKind:
        value = defaults.get(kind.value)
        if not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
            problems.append(f"{kind.value}: {value!r} is not a number of days from 1 to {MAX_DAYS}")
    if not problems:
        safety = defaults[RecordKind.SAFETY_LINKED.value]
        if safety < minimum:
            problems.append(
                f"safety_linked: {safety} days is below the regulatory minimum of {minimum}"
                " (RETENTION_SAFETY_MINIMUM_DAYS); set RETENTION_SAFETY_LINKED_DAYS to at least"
                f" {minimum}"
            )
        shorter = [k.value for k in SAFETY_COVERS if safety < defaults[k.value]]
        if shorter:
            problems.append(
                f"safety_linked: {safety} days is shorter than the default of {', '.join(shorter)}"
                " (safety-linked records are kept at least as long as ordinary ones)"
            )
    if problems:
        raise RetentionConfigError(
            "The retention defaults (RETENTION_*_DAYS) are not usable: " + "; ".join(problems) + "."
        )


def default_days(kind: RecordKind) -> int:
    """The configured default for ``kind`` (``RETENTION_DEFAULT_DAYS``)."""
    return int(current_app.config["RETENTION_DEFAULT_DAYS"][kind.value])


def current_periods() -> dict[RecordKind, int]:
    """The days in force for every kind: the table's, else the configured default."""
    stored = {p.kind: p.days for p in db.session.scalars(select(RetentionPeriod))}
    return {kind: stored.get(kind, default_days(kind)) for kind in RecordKind}


def effective_periods() -> dict[RecordKind, int]:
    """The days the purge applies: :func:`current_periods`, with the safety period never below
    the regulatory minimum (a row stored before the minimum existed, or after it was raised,
    cannot shorten it)."""
    days = current_periods()
    floor = safety_minimum_days()
    days[RecordKind.SAFETY_LINKED] = max(days[RecordKind.SAFETY_LINKED], floor)
    return days


def list_periods(actor: User) -> list[tuple[RecordKind, int, RetentionPeriod | None]]:
    """Each kind with its days in force and its stored row (``None``: the default), for the
    retention page. Administrators and compliance (others: ``NotFound``)."""
    policy.require_visible(policy.can_view_retention(actor))
    stored = {p.kind: p for p in db.session.scalars(select(RetentionPeriod))}
    return [
        (kind, stored[kind].days if kind in stored else default_days(kind), stored.get(kind))
        for kind in RecordKind
    ]


def problems_of(days: Mapping[RecordKind, int]) -> dict[str, str]:
    """What is wrong with a complete set of periods, by kind value (empty: nothing)."""
    problems: dict[str, str] = {}
    for kind, value in days.items():
        if not 1 <= value <= MAX_DAYS:
            problems[kind.value] = _(
                "Give a number of days from 1 to %(most)s.", most=f"{MAX_DAYS:,}"
            )
    safety = days[RecordKind.SAFETY_LINKED]
    floor = safety_minimum_days()
    shorter = [k for k in SAFETY_COVERS if safety < days[k]]
    if safety < floor and RecordKind.SAFETY_LINKED.value not in problems:
        problems[RecordKind.SAFETY_LINKED.value] = _(
            "Safety-linked records must be kept at least %(days)s days: the regulatory minimum"
            " for adverse-event and product-complaint records.",
            days=f"{floor:,}",
        )
    if shorter and RecordKind.SAFETY_LINKED.value not in problems:
        problems[RecordKind.SAFETY_LINKED.value] = _(
            "Safety-linked records must be kept at least as long as ordinary ones"
            " (%(kinds)s: %(days)s days).",
            kinds=", ".join(k.label for k in shorter),
            days=max(days[k] for k in shorter),
        )
    return problems


@transactional
def set_periods(actor: User, changes: Mapping[RecordKind, int]) -> dict[RecordKind, int]:
    """Change the days of the kinds in ``changes``; returns the kinds that changed with their
    new days (an unchanged value is no change).

    Administrators only (``PermissionDenied``). ``InvalidInput`` (with ``errors`` by kind) for
    days outside 1..``MAX_DAYS``, a safety period below ``RETENTION_SAFETY_MINIMUM_DAYS``, or
    a safety period shorter than the conversations' or the questions' period once the changes
    apply. Audit: one ``retention.period_changed`` per kind
    that changed (``kind``, ``days`` before → after).
    """
    policy.require(policy.can_edit_retention_periods(actor))
    before = current_periods()
    after = {**before, **changes}
    problems = problems_of(after)
    if problems:
        raise InvalidInput(next(iter(problems.values())), errors=problems)
    changed: dict[RecordKind, int] = {}
    now = utcnow()
    for kind in RecordKind:
        if after[kind] == before[kind]:
            continue
        row = db.session.get(RetentionPeriod, kind)
        if row is None:
            row = RetentionPeriod(kind=kind)
            db.session.add(row)
        row.days = after[kind]
        row.updated_by_id = actor.id
        row.updated_at = now
        changed[kind] = after[kind]
        audit.record(
            actor,
            "retention.period_changed",
            ("retention_periods", kind.value),
            kind=kind.value,
            days={"before": before[kind], "after": after[kind]},
        )
    return changed
