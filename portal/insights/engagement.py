"""The Chat and contact dashboard: opt-ins, withdrawals, active conversations and how fast staff
answer in chat; how much of each HCP's contact cap is used, and the contacts the rule refused.

The firewall: a conversation, a contact or a refusal belongs to the side of the staff member
behind it. A commercial lead counts commercial colleagues' records only; a medical lead medical
and commercial ones (``policy.insight_record_sides``); administrators and compliance all.
None of these records names a product, so the product filter does not narrow them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, and_, case, func, literal, or_, select, union_all
from sqlalchemy.orm import aliased

from chat.models import ConsentPeriod, Conversation, Message
from portal.accounts import contact_rule
from portal.accounts.models import Contact, ContactPreferences
from portal.insights.aggregates import (
    dialect,
    hours_between,
    in_range,
    one_decimal,
    rows_of,
    side_clause,
    staff_role_clause,
    weekly_rows,
)
from portal.insights.panels import (
    Chart,
    Column,
    ColumnKind,
    Dashboard,
    Filters,
    Panel,
    Viewer,
    week_bucket,
)
from portal.models import AuditRecord, HcpProfile, Role, User, Verification

NO_PRODUCT = _l("These records name no product: the product filter does not apply.")


def chat_per_week(viewer: Viewer, filters: Filters) -> Panel:
    """Per week: chat opt-ins (consent periods granted), withdrawals (consent periods closed)
    and active conversations (those with at least one message that week)."""
    name = dialect()
    staff = aliased(User)
    opt_ins = (
        select(
            week_bucket(ConsentPeriod.granted_at, filters, name).label("week"),
            literal("opt_in").label("kind"),
            ConsentPeriod.conversation_id.label("conversation_id"),
        )
        .join(staff, staff.id == ConsentPeriod.staff_id)
        .where(in_range(ConsentPeriod.granted_at, filters), staff_role_clause(viewer, staff.role))
    )
    withdrawals = (
        select(
            week_bucket(ConsentPeriod.withdrawn_at, filters, name).label("week"),
            literal("withdrawal").label("kind"),
            ConsentPeriod.conversation_id.label("conversation_id"),
        )
        .join(staff, staff.id == ConsentPeriod.staff_id)
        .where(in_range(ConsentPeriod.withdrawn_at, filters), staff_role_clause(viewer, staff.role))
    )
    messages = (
        select(
            week_bucket(Message.sent_at, filters, name).label("week"),
            literal("message").label("kind"),
            Message.conversation_id.label("conversation_id"),
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(staff, staff.id == Conversation.staff_id)
        .where(in_range(Message.sent_at, filters), staff_role_clause(viewer, staff.role))
    )
    events = union_all(opt_ins, withdrawals, messages).subquery("events")
    found = rows_of(
        select(
            events.c.week,
            func.sum(case((events.c.kind == "opt_in", 1), else_=0)).label("opt_ins"),
            func.sum(case((events.c.kind == "withdrawal", 1), else_=0)).label("withdrawals"),
            func.count(
                case((events.c.kind == "message", events.c.conversation_id)).distinct()
            ).label("active"),
        ).group_by(events.c.week)
    )
    rows = weekly_rows(
        filters,
        {
            int(r["week"]): {
                "opt_ins": int(r["opt_ins"] or 0),
                "withdrawals": int(r["withdrawals"] or 0),
                "active": int(r["active"] or 0),
            }
            for r in found
        },
        {"opt_ins": 0, "withdrawals": 0, "active": 0},
    )
    return Panel(
        key="chat-per-week",
        title=_l("Chat opt-ins, withdrawals and active conversations per week"),
        columns=[
            Column("week", _l("Week"), ColumnKind.DATE),
            Column("opt_ins", _l("Opt-ins")),
            Column("withdrawals", _l("Withdrawals")),
            Column("active", _l("Active conversations")),
        ],
        rows=rows,
        chart=Chart.BAR,
        x="week",
        series=["opt_ins", "withdrawals", "active"],
        note=str(_l("Active: at least one message that week. %(note)s", note=NO_PRODUCT)),
    )


def response_times(viewer: Viewer, filters: Filters) -> Panel:
    """Per week of the HCP's message: how long staff took to answer in chat (from the HCP's
    first unanswered message to the next staff message in the same conversation), median and
    90th percentile, and how many HCP messages still wait for an answer."""
    name = dialect()
    staff = aliased(User)
    # One pass over the conversations' messages since the range began, newest first in each
    # conversation (one window ordering, read in the order of ``ix_chat_messages_conversation``):
    # who wrote the message before (``lead`` going backwards), and the earliest staff message
    # from this one on (a running ``min``; an HCP's own message is never the staff's, so for the
    # HCP messages timed below it is the earliest staff message after theirs).
    ordered = (
        select(
            Message.sent_at.label("sent_at"),
            Message.sender_id.label("sender_id"),
            Conversation.hcp_id.label("hcp_id"),
            func.lead(Message.sender_id)
            .over(partition_by=Message.conversation_id, order_by=Message.seq.desc())
            .label("previous_sender"),
            func.min(case((Message.sender_id == Conversation.staff_id, Message.sent_at)))
            .over(partition_by=Message.conversation_id, order_by=Message.seq.desc(), rows=(None, 0))
            .label("reply_at"),
        )
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(staff, staff.id == Conversation.staff_id)
        .where(Message.sent_at >= filters.start, staff_role_clause(viewer, staff.role))
        .subquery("ordered")
    )
    # An HCP message opens a wait when the message before it was not theirs (several in a row
    # are one wait, timed from the first).
    opens_wait = and_(
        ordered.c.sender_id == ordered.c.hcp_id,
        or_(ordered.c.previous_sender.is_(None), ordered.c.previous_sender != ordered.c.hcp_id),
        ordered.c.sent_at < filters.end,
    )
    waits = (
        select(
            week_bucket(ordered.c.sent_at, filters, name).label("week"),
            case((ordered.c.reply_at.is_not(None), 1), else_=0).label("answered"),
            hours_between(ordered.c.sent_at, ordered.c.reply_at).label("hours"),
        )
        .where(opens_wait)
        .subquery("waits")
    )
    # Answered and waiting in one statement: the answered waits of a week ranked among
    # themselves (nearest-rank percentiles, as ``aggregates.percentiles``), the rest counted.
    per_kind = (waits.c.week, waits.c.answered)
    ranked = select(
        waits.c.week,
        waits.c.answered,
        waits.c.hours,
        func.row_number().over(partition_by=per_kind, order_by=waits.c.hours).label("rn"),
        func.count().over(partition_by=per_kind).label("total"),
    ).subquery("ranked")
    answered = ranked.c.answered == 1
    found = {
        int(r["week"]): r
        for r in rows_of(
            select(
                ranked.c.week,
                func.sum(ranked.c.answered).label("n"),
                func.count().label("waits"),
                func.min(
                    case((and_(answered, ranked.c.rn * 2 >= ranked.c.total), ranked.c.hours))
                ).label("p50"),
                func.min(
                    case((and_(answered, ranked.c.rn * 10 >= ranked.c.total * 9), ranked.c.hours))
                ).label("p90"),
            ).group_by(ranked.c.week)
        )
    }
    rows = weekly_rows(
        filters,
        {
            bucket: {
                "answered": int(r["n"] or 0),
                "median": one_decimal(r["p50"]),
                "p90": one_decimal(r["p90"]),
                "waiting": int(r["waits"]) - int(r["n"] or 0),
            }
            for bucket, r in found.items()
        },
        {"answered": 0, "median": None, "p90": None, "waiting": 0},
    )
    return Panel(
        key="response-time",
        title=_l("Staff response time in chat"),
        columns=[
            Column("week", _l("Week"), ColumnKind.DATE),
            Column("answered", _l("Answered")),
            Column("median", _l("Median (hours)"), ColumnKind.HOURS),
            Column("p90", _l("90th percentile (hours)"), ColumnKind.HOURS),
            Column("waiting", _l("Not answered yet")),
        ],
        rows=rows,
        chart=Chart.LINE,
        x="week",
        series=["median", "p90"],
        note=str(
            _l(
                "Clock hours from an HCP's message to the next staff message in the same "
                "conversation; messages in a row are timed from the first."
            )
        ),
    )


CAP_BANDS: tuple[tuple[str, Any], ...] = (
    ("none", _l("No contact")),
    ("under_half", _l("Under half of the cap")),
    ("half", _l("Half of the cap or more")),
    ("at_cap", _l("Cap reached")),
)


def contacts_against_caps(viewer: Viewer, filters: Filters) -> Panel:
    """Verified HCPs by how much of their contact cap was used in the window (``CONTACT_WINDOW_
    DAYS``, 30) ending with the range: unsolicited contacts counted by the contact rule, against
    the HCP's own cap, or the company default while they never chose one."""
    config = current_app.config
    window_days = int(config["CONTACT_WINDOW_DAYS"])
    window_start = filters.end - dt.timedelta(days=window_days)
    used_by = (
        select(Contact.hcp_id.label("hcp_id"), func.count().label("used"))
        .where(
            Contact.counted.is_(True),
            Contact.at >= window_start,
            Contact.at < filters.end,
            side_clause(viewer, Contact.side),
        )
        .group_by(Contact.hcp_id)
        .subquery("used_by")
    )
    used = func.coalesce(used_by.c.used, 0)
    cap = case(
        (ContactPreferences.chosen.is_(True), ContactPreferences.cap),
        else_=literal(int(config["CONTACT_DEFAULT_CAP"]), Integer),
    )
    band = case(
        (used == 0, "none"),
        (used >= cap, "at_cap"),
        (used * 2 >= cap, "half"),
        else_="under_half",
    )
    found = {
        r["band"]: int(r["hcps"])
        for r in rows_of(
            select(band.label("band"), func.count().label("hcps"))
            .select_from(User)
            .join(HcpProfile, HcpProfile.user_id == User.id)
            .outerjoin(used_by, used_by.c.hcp_id == User.id)
            .outerjoin(ContactPreferences, ContactPreferences.hcp_id == User.id)
            .where(
                User.role == Role.HCP,
                HcpProfile.verification == Verification.VERIFIED,
                User.created_at < filters.end,
            )
            .group_by(band)
        )
    }
    rows = [{"band": str(label), "hcps": found.get(key, 0)} for key, label in CAP_BANDS]
    return Panel(
        key="contact-caps",
        title=_l("Contacts per HCP in %(days)s days against their cap", days=window_days),
        columns=[Column("band", _l("Cap used"), ColumnKind.TEXT), Column("hcps", _l("HCPs"))],
        rows=rows,
        chart=Chart.BAR,
        x="band",
        series=["hcps"],
        note=str(
            _l(
                "Verified HCPs; unsolicited contacts in the %(days)s days up to the end of the "
                "range, against each HCP's cap (the company default until they choose one).",
                days=window_days,
            )
        ),
    )


REFUSAL_RULES: tuple[tuple[str, Any], ...] = (
    (contact_rule.CHANNEL, _l("Channel not accepted")),
    (contact_rule.PAUSED, _l("Contact paused")),
    (contact_rule.QUIET_HOURS, _l("Quiet hours")),
    (contact_rule.MIN_GAP, _l("Too soon after another contact")),
    (contact_rule.CAP, _l("Cap reached")),
    (contact_rule.NOT_YOURS, _l("Not theirs to contact")),
)


def refusals_per_week(viewer: Viewer, filters: Filters) -> Panel:
    """Contacts the contact rule refused, per week and by the rule that refused them (the
    ``contact.refused`` audit records; their details name the rule)."""
    staff = aliased(User)
    week = week_bucket(AuditRecord.at, filters, dialect())
    # JSON extraction: ``->>`` on PostgreSQL, ``json_extract`` on SQLite (SQLAlchemy's JSON type).
    rule = AuditRecord.details["rule"].as_string()
    found = rows_of(
        select(
            week.label("week"),
            func.count().label("total"),
            *(
                func.sum(case((rule == key, 1), else_=0)).label(key)
                for key, _label in REFUSAL_RULES
            ),
        )
        .join(staff, staff.id == AuditRecord.actor_id)
        .where(
            AuditRecord.action == "contact.refused",
            in_range(AuditRecord.at, filters),
            staff_role_clause(viewer, staff.role),
        )
        .group_by(week)
    )
    keys = [key for key, _label in REFUSAL_RULES]
    rows = weekly_rows(
        filters,
        {int(r["week"]): {k: int(r[k] or 0) for k in [*keys, "total"]} for r in found},
        dict.fromkeys([*keys, "total"], 0),
    )
    return Panel(
        key="contact-refusals",
        title=_l("Contacts refused by the contact rule, per week"),
        columns=[
            Column("week", _l("Week"), ColumnKind.DATE),
            *(Column(key, label) for key, label in REFUSAL_RULES),
            Column("total", _l("Total")),
        ],
        rows=rows,
        chart=Chart.STACKED_BAR,
        x="week",
        series=keys,
        note=str(NO_PRODUCT),
    )


def build(viewer: Viewer, filters: Filters) -> list[Panel]:
    if not viewer.sides:
        return []
    return [
        chat_per_week(viewer, filters),
        response_times(viewer, filters),
        contacts_against_caps(viewer, filters),
        refusals_per_week(viewer, filters),
    ]


DASHBOARD = Dashboard(key="engagement", title=_l("Chat and contact"), build=build)
