"""The Adoption and return dashboard: who registered, was verified and used the portal, by
specialty and territory; a funnel per product (read its content, asked about it, then chatted or
met); and, per HCP segment (specialty), the share of questions served within their SLA.

Active in the range: viewed or downloaded content, asked a question or sent a chat message.
With a product chosen, activity is about that product: its content and questions about it
(chat messages name no product and no longer count).

The firewall: a commercial lead counts commercial questions only (commercial category, not
off-label, owned by a commercial team: the SQL twin of ``policy.can_view_question``), and chats,
meetings and call notes of commercial colleagues; a medical lead the medical side's and the
commercial side's records; administrators and compliance everything.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from chat.models import Conversation, Message
from content.models import Material, MaterialEvent
from portal.accounts.models import CallNote, InteractionKind, Meeting, MeetingState
from portal.insights.aggregates import (
    in_range,
    one_decimal,
    percent,
    rows_of,
    side_clause,
    staff_role_clause,
)
from portal.insights.panels import Chart, Column, ColumnKind, Dashboard, Filters, Panel, Viewer
from portal.insights.questions import visible_questions
from portal.models import HcpProfile, Product, Role, Territory, User, Verification, utcnow
from portal.models.reference import specialty_label
from portal.questions.models import (
    Question,
    QuestionStatus,
)


def _questions(viewer: Viewer, filters: Filters) -> list[ColumnElement[bool]]:
    found = [in_range(Question.created_at, filters), visible_questions(viewer)]
    if filters.product_id is not None:
        found.append(Question.product_id == filters.product_id)
    return found


def _chatted(viewer: Viewer, filters: Filters, hcp_id: Any) -> ColumnElement[bool]:
    """The HCP ``hcp_id`` (a correlated column) sent a chat message in the range to a colleague
    the viewer may count (one index seek per HCP: ``ix_chat_messages_sender_sent``)."""
    staff = aliased(User)
    return (
        select(Message.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(staff, staff.id == Conversation.staff_id)
        .where(
            Message.sender_id == hcp_id,
            Conversation.hcp_id == hcp_id,
            in_range(Message.sent_at, filters),
            staff_role_clause(viewer, staff.role),
        )
        .exists()
    )


def _active(viewer: Viewer, filters: Filters, hcp_id: Any) -> ColumnElement[bool]:
    """The HCP ``hcp_id`` (a correlated column) was active in the range: viewed or downloaded
    content, asked a question (one the viewer may count) or sent a chat message. Asked per HCP
    (index seeks by user), so the cost does not grow with the range's events."""
    read = select(MaterialEvent.id).where(
        MaterialEvent.user_id == hcp_id, in_range(MaterialEvent.at, filters)
    )
    if filters.product_id is not None:
        read = read.join(Material, Material.id == MaterialEvent.material_id).where(
            Material.product_id == filters.product_id
        )
    asked = select(Question.id).where(Question.hcp_id == hcp_id, *_questions(viewer, filters))
    parts: list[ColumnElement[bool]] = [read.exists(), asked.exists()]
    if filters.product_id is None:
        parts.append(_chatted(viewer, filters, hcp_id))
    return or_(*parts)


def _hcp_counts(viewer: Viewer, filters: Filters, *group: Any) -> list[dict[str, Any]]:
    """Per ``group`` (columns of users, profiles, territories): HCPs registered by the range's
    end, of them verified by then, and active in the range."""
    verified = and_(
        HcpProfile.verification == Verification.VERIFIED,
        or_(HcpProfile.verified_at.is_(None), HcpProfile.verified_at < filters.end),
    )
    return rows_of(
        select(
            *group,
            func.count().label("registered"),
            func.sum(case((verified, 1), else_=0)).label("verified"),
            func.sum(case((_active(viewer, filters, User.id), 1), else_=0)).label("active"),
        )
        .select_from(User)
        .join(HcpProfile, HcpProfile.user_id == User.id)
        .outerjoin(Territory, Territory.id == HcpProfile.territory_id)
        .where(User.role == Role.HCP, User.created_at < filters.end)
        .group_by(*group)
    )


HCP_COLUMNS = (
    Column("registered", _l("Registered")),
    Column("verified", _l("Verified")),
    Column("active", _l("Active")),
)
HCP_NOTE = _l(
    "Registered and verified by the end of the range; active: viewed content, asked a question "
    "or chatted in the range (with a product chosen: viewed its content or asked about it)."
)


def _counts(row: dict[str, Any]) -> dict[str, int]:
    return {key: int(row[key] or 0) for key in ("registered", "verified", "active")}


def _by_count(rows: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (-r["registered"], r[label]))


def hcps_by_specialty(viewer: Viewer, filters: Filters) -> Panel:
    found = _hcp_counts(viewer, filters, HcpProfile.specialty.label("specialty"))
    rows = _by_count(
        [{"specialty": specialty_label(r["specialty"]), **_counts(r)} for r in found],
        "specialty",
    )
    return Panel(
        key="hcps-by-specialty",
        title=_l("Registered, verified and active HCPs by specialty"),
        columns=[Column("specialty", _l("Specialty"), ColumnKind.TEXT), *HCP_COLUMNS],
        rows=rows,
        chart=Chart.BAR,
        x="specialty",
        series=["registered", "verified", "active"],
        note=str(HCP_NOTE),
    )


def hcps_by_territory(viewer: Viewer, filters: Filters) -> Panel:
    found = _hcp_counts(
        viewer, filters, Territory.id.label("territory_id"), Territory.name.label("territory")
    )
    rows = _by_count(
        [{"territory": r["territory"] or str(_l("No territory")), **_counts(r)} for r in found],
        "territory",
    )
    return Panel(
        key="hcps-by-territory",
        title=_l("Registered, verified and active HCPs by territory"),
        columns=[Column("territory", _l("Territory"), ColumnKind.TEXT), *HCP_COLUMNS],
        rows=rows,
        chart=Chart.BAR,
        x="territory",
        series=["registered", "verified", "active"],
        note=str(HCP_NOTE),
    )


# The funnel reads every HCP event of the range with its material's product: SQLite would
# look each material up in the wide materials table; the narrow (id, product_id) index answers it.
_PRODUCT_OF_MATERIAL = "INDEXED BY ix_materials_id_product"


def product_funnel(viewer: Viewer, filters: Filters) -> Panel:
    """Per product: HCPs who viewed its content in the range; of them, those who asked about
    it; of those, those who also chatted (sent a message) or met (an accepted meeting, or a
    visit, call or event a colleague recorded) in the range."""
    hcp = aliased(User)
    viewed_query = (
        select(Material.product_id.label("product_id"), MaterialEvent.user_id.label("hcp_id"))
        .join(Material, Material.id == MaterialEvent.material_id)
        .join(hcp, hcp.id == MaterialEvent.user_id)
        .where(in_range(MaterialEvent.at, filters), hcp.role == Role.HCP)
        .with_hint(Material, _PRODUCT_OF_MATERIAL, "sqlite")
        .distinct()
    )
    if filters.product_id is not None:
        viewed_query = viewed_query.where(Material.product_id == filters.product_id)
    viewed = viewed_query.subquery("viewed")
    # Then, per (product, HCP) who viewed: index seeks by HCP, not a pass over the range.
    asked = (
        select(Question.id)
        .where(
            Question.hcp_id == viewed.c.hcp_id,
            Question.product_id == viewed.c.product_id,
            *_questions(viewer, filters),
        )
        .exists()
    )
    met = (
        select(Meeting.id)
        .where(
            Meeting.hcp_id == viewed.c.hcp_id,
            Meeting.state == MeetingState.ACCEPTED,
            in_range(Meeting.starts_at, filters),
            side_clause(viewer, Meeting.side),
        )
        .exists()
    )
    noted = (
        select(CallNote.id)
        .where(
            CallNote.hcp_id == viewed.c.hcp_id,
            CallNote.kind != InteractionKind.EMAIL,
            in_range(CallNote.occurred_at, filters),
            side_clause(viewer, CallNote.side),
        )
        .exists()
    )
    engaged = and_(asked, or_(_chatted(viewer, filters, viewed.c.hcp_id), met, noted))
    statement = (
        select(
            Product.id.label("product_id"),
            Product.name.label("product"),
            func.count(viewed.c.hcp_id).label("viewed"),
            func.coalesce(func.sum(case((asked, 1), else_=0)), 0).label("asked"),
            func.coalesce(func.sum(case((engaged, 1), else_=0)), 0).label("engaged"),
        )
        .select_from(Product)
        .outerjoin(viewed, viewed.c.product_id == Product.id)
        .group_by(Product.id, Product.name)
        .order_by(Product.name, Product.id)
    )
    if filters.product_id is not None:
        statement = statement.where(Product.id == filters.product_id)
    rows = [
        {
            "product": r["product"],
            "viewed": int(r["viewed"]),
            "asked": int(r["asked"]),
            "engaged": int(r["engaged"]),
        }
        for r in rows_of(statement)
    ]
    return Panel(
        key="product-funnel",
        title=_l("From content to conversation, per product"),
        columns=[
            Column("product", _l("Product"), ColumnKind.TEXT),
            Column("viewed", _l("Viewed its content")),
            Column("asked", _l("Then asked about it")),
            Column("engaged", _l("Then chatted or met")),
        ],
        rows=rows,
        chart=Chart.BAR,
        x="product",
        series=["viewed", "asked", "engaged"],
        note=str(
            _l(
                "HCPs in the range. Each step counts those of the step before: asked about the "
                "product, then sent a chat message or met a colleague (an accepted meeting, or "
                "a visit, call or event on record)."
            )
        ),
    )


def sla_by_segment(viewer: Viewer, filters: Filters) -> Panel:
    """Per specialty: questions asked in the range, how many were served by their due time
    (first response, or closing, by then), how many were not (served after it, or still waiting
    past it: the Questions dashboard's breach), and the share served in time of those whose
    clock has stopped or run out."""
    now = utcnow()
    served = func.coalesce(Question.first_response_at, Question.closed_at)
    waiting = Question.status.in_([QuestionStatus.RECEIVED, QuestionStatus.IN_PROGRESS])
    in_time = func.sum(case((and_(served.is_not(None), served <= Question.due_at), 1), else_=0))
    late = func.sum(
        case(
            (
                or_(
                    and_(served.is_not(None), served > Question.due_at),
                    and_(served.is_(None), waiting, Question.due_at < now),
                ),
                1,
            ),
            else_=0,
        )
    )
    specialty = HcpProfile.specialty
    found = rows_of(
        select(
            specialty.label("specialty"),
            func.count().label("questions"),
            in_time.label("in_time"),
            late.label("late"),
            percent(in_time, in_time + late).label("share"),
        )
        .select_from(Question)
        .join(HcpProfile, HcpProfile.user_id == Question.hcp_id)
        .where(*_questions(viewer, filters))
        .group_by(specialty)
    )
    shaped: list[dict[str, Any]] = [
        {
            "specialty": specialty_label(r["specialty"]),
            "questions": int(r["questions"]),
            "in_time": int(r["in_time"] or 0),
            "late": int(r["late"] or 0),
            "share": one_decimal(r["share"]),
        }
        for r in found
    ]
    rows = sorted(shaped, key=lambda r: (-r["questions"], r["specialty"]))
    return Panel(
        key="sla-by-segment",
        title=_l("Questions served within their SLA, by specialty"),
        columns=[
            Column("specialty", _l("Specialty"), ColumnKind.TEXT),
            Column("questions", _l("Questions")),
            Column("in_time", _l("Answered in time")),
            Column("late", _l("Late")),
            Column("share", _l("Share in time"), ColumnKind.PERCENT),
        ],
        rows=rows,
        chart=Chart.BAR,
        x="specialty",
        series=["share"],
        note=str(
            _l(
                "Questions asked in the range; in time: first answered (or closed) by the due "
                "time. Questions whose clock still runs count in neither."
            )
        ),
    )


def build(viewer: Viewer, filters: Filters) -> list[Panel]:
    if not viewer.sides:
        return []
    return [
        hcps_by_specialty(viewer, filters),
        hcps_by_territory(viewer, filters),
        product_funnel(viewer, filters),
        sla_by_segment(viewer, filters),
    ]


DASHBOARD = Dashboard(key="adoption", title=_l("Adoption and return"), build=build)
