"""How long each kind of record is kept: the periods in force, and changing them.

A period is a number of days per :class:`RecordKind`. The ``retention_periods`` table holds the
ones an administrator set; a kind without a row keeps the default of ``RETENTION_DEFAULT_DAYS``
(``portal/config.py``). The audit trail has no period: it is kept (a hash chain cannot lose its
start without a checkpoint; see ``docs/records.md``).
"""

from __future__ import annotations

from collections.abc import Mapping

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


def default_days(kind: RecordKind) -> int:
    """The configured default for ``kind`` (``RETENTION_DEFAULT_DAYS``)."""
    return int(current_app.config["RETENTION_DEFAULT_DAYS"][kind.value])


def current_periods() -> dict[RecordKind, int]:
    """The days in force for every kind: the table's, else the configured default."""
    stored = {p.kind: p.days for p in db.session.scalars(select(RetentionPeriod))}
    return {kind: stored.get(kind, default_days(kind)) for kind in RecordKind}


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
    shorter = [k for k in SAFETY_COVERS if safety < days[k]]
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
    days outside 1..``MAX_DAYS``, or a safety period shorter than the conversations' or the
    questions' period once the changes apply. Audit: one ``retention.period_changed`` per kind
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
