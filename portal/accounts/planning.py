"""Pre-call planning on the HCP page: what the HCP cares about, what waits for an answer, who
touched them lately, approved material worth sharing next, and the plan notes for the next
interaction.

Every part follows the firewall as the rest of the HCP page does: a question's text and category
only for viewers who may read it (:func:`portal.policy.can_read_question_on_record`), a
colleague's plan note only on a side the viewer may read (:func:`portal.policy.
can_view_side_record`), a material only when the viewer may open it, and suggestions only what
the viewer may share with this HCP (:func:`portal.policy.can_share_material_with`, in SQL as
:func:`content.services.shareable_clause`). Plan notes are saved by :func:`save_plan_note`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, literal, or_, select, true, union_all
from sqlalchemy.orm import joinedload

from content import services as content
from content.models import Material, MaterialEvent
from portal import audit, inputs, policy
from portal.accounts import coordination, preferences
from portal.accounts.models import ContactPreferences, PlanNote
from portal.errors import InvalidInput
from portal.extensions import db
from portal.models import Product, User, utcnow
from portal.questions.models import Category, Question, QuestionStatus, team_label
from portal.services import coverage
from portal.unit_of_work import transactional

PLAN_NOTE_MAX = 4000
OPENED_DAYS = 90  # "materials they opened recently"
OPENED_LIMIT = 5
OPEN_ITEMS_LIMIT = 10
TOUCHES_LIMIT = 5
SUGGESTIONS_LIMIT = 5
NOTES_LIMIT = 50
_SUGGESTION_POOL = 25  # read a few more than shown: versions of one family count once


@dataclasses.dataclass(frozen=True)
class OpenedMaterial:
    """A material the HCP opened recently (its current version, as the viewer may see it)."""

    material: Material
    last_at: dt.datetime
    times: int  # views and downloads in the last OPENED_DAYS days


@dataclasses.dataclass(frozen=True)
class Interests:
    """What the HCP cares about: the topics they chose and what they read lately."""

    products: list[str]  # product names they follow (their contact preferences)
    areas: list[str]  # therapeutic areas they follow
    opened: list[OpenedMaterial]

    @property
    def empty(self) -> bool:
        return not (self.products or self.areas or self.opened)


@dataclasses.dataclass(frozen=True)
class OpenItem:
    """An unanswered question of the HCP's. ``readable`` False: the viewer may know only that it
    exists, its team, status and date (no reference, category, due time or text)."""

    question_id: int
    readable: bool
    team: str
    status: QuestionStatus
    asked_at: dt.datetime
    reference: str | None = None
    category: Category | None = None
    due_at: dt.datetime | None = None
    text: str | None = None
    openable: bool = False  # the viewer may open the question's own page


@dataclasses.dataclass(frozen=True)
class NoteView:
    """A plan note as the viewer sees it."""

    author_name: str
    role: str
    text: str
    updated_at: dt.datetime
    mine: bool


@dataclasses.dataclass
class Plan:
    """What a viewer needs before their next interaction with an HCP.

    ``suggestions`` is ``None`` for viewers who do not contact HCPs (Medical Information,
    Pharmacovigilance, Quality, compliance): the section is not shown at all."""

    interests: Interests
    open_items: list[OpenItem]
    open_total: int
    last_contacts: list[coordination.Touch]
    suggestions: list[Material] | None
    my_note: NoteView | None
    colleague_notes: list[NoteView]
    can_edit_note: bool
    read_only: bool


# --- reading the plan ----------------------------------------------------------------------------
def plan_for(
    viewer: User,
    hcp: User,
    *,
    now: dt.datetime | None = None,
    touches: Sequence[coordination.Touch] | None = None,
) -> Plan:
    """The pre-call plan of ``viewer`` for ``hcp``: interests (topics chosen in the HCP's
    preferences, materials they opened in the last ``OPENED_DAYS`` days that ``viewer`` may
    open), open items (unanswered questions; text and category only where the firewall allows),
    the last ``TOUCHES_LIMIT`` contacts (:func:`coordination.recent_touches`), up to
    ``SUGGESTIONS_LIMIT`` approved materials ``viewer`` may share with ``hcp`` that the HCP has
    not opened yet (their chosen products and areas first; omitted for viewers who may not
    contact the HCP) and the plan notes (``viewer``'s own, editable when
    :func:`portal.policy.can_write_plan_note`; colleagues' on sides ``viewer`` may read).

    The caller has checked :func:`portal.policy.can_view_hcp_record`. Reads only, a bounded
    number of statements."""
    now = now or utcnow()
    chosen = preferences.current(hcp)
    items, total = _open_items(viewer, hcp)
    mine, others = _notes(viewer, hcp)
    return Plan(
        interests=_interests(viewer, hcp, chosen, now),
        open_items=items,
        open_total=total,
        last_contacts=list(
            coordination.recent_touches(viewer, hcp, now=now) if touches is None else touches
        )[:TOUCHES_LIMIT],
        suggestions=(
            _suggestions(viewer, hcp, chosen, now) if policy.can_contact_hcp(viewer, hcp) else None
        ),
        my_note=mine,
        colleague_notes=others,
        can_edit_note=policy.can_write_plan_note(viewer, hcp),
        read_only=policy.is_read_only(viewer),
    )


def _interests(viewer: User, hcp: User, chosen: ContactPreferences, now: dt.datetime) -> Interests:
    products = (
        list(
            db.session.scalars(
                select(Product.name)
                .where(Product.id.in_(list(chosen.product_ids)))
                .order_by(Product.name)
            )
        )
        if chosen.product_ids
        else []
    )
    return Interests(products=products, areas=list(chosen.areas), opened=_opened(viewer, hcp, now))


def _opened(viewer: User, hcp: User, now: dt.datetime) -> list[OpenedMaterial]:
    # Families the viewer may open now (a rep: promotional ones only): what an HCP reads of the
    # medical side is not the commercial side's to act on.
    # Asked per family read (a correlated EXISTS): the library's visible families are never
    # listed in full (thousands at a year of data).
    visible = (
        select(Material.id)
        .where(Material.family_id == MaterialEvent.family_id, content.visible_clause(viewer, now))
        .exists()
    )
    recent = db.session.execute(
        select(
            MaterialEvent.family_id,
            func.max(MaterialEvent.at).label("last_at"),
            func.count().label("times"),
        )
        .where(
            MaterialEvent.user_id == hcp.id,
            MaterialEvent.at >= now - dt.timedelta(days=OPENED_DAYS),
            visible,
        )
        .group_by(MaterialEvent.family_id)
        .order_by(func.max(MaterialEvent.at).desc(), MaterialEvent.family_id.desc())
        .limit(OPENED_LIMIT)
    ).all()
    if not recent:
        return []
    current: dict[int, Material] = {}
    for material in db.session.scalars(
        select(Material)
        .options(joinedload(Material.product))
        .where(
            Material.family_id.in_([row.family_id for row in recent]),
            content.visible_clause(viewer, now),
        )
        .order_by(Material.version)
    ):
        current[material.family_id or material.id] = material  # the latest version wins
    return [
        OpenedMaterial(current[row.family_id], row.last_at, int(row.times))
        for row in recent
        if row.family_id in current
    ]


def _open_items(viewer: User, hcp: User) -> tuple[list[OpenItem], int]:
    is_open = Question.status.in_([QuestionStatus.RECEIVED, QuestionStatus.IN_PROGRESS])
    # The first few and how many there are, in one statement (a window count).
    rows = db.session.execute(
        select(Question, func.count().over().label("total"))
        .where(Question.hcp_id == hcp.id, is_open)
        .order_by(Question.due_at, Question.id)
        .limit(OPEN_ITEMS_LIMIT)
    ).all()
    questions = [row[0] for row in rows]
    total = int(rows[0][1]) if rows else 0
    items = []
    for question in questions:
        team = team_label(question.owner_team)
        if policy.can_read_question_on_record(viewer, question):
            items.append(
                OpenItem(
                    question_id=question.id, readable=True, team=team, status=question.status,
                    asked_at=question.created_at, reference=question.reference,
                    category=question.category, due_at=question.due_at, text=question.text,
                    openable=policy.can_view_question(viewer, question),
                )
            )  # fmt: skip
        else:
            items.append(
                OpenItem(
                    question_id=question.id, readable=False, team=team, status=question.status,
                    asked_at=question.created_at,
                )
            )  # fmt: skip
    return items, total


def suggestions(
    viewer: User, hcp: User, *, now: dt.datetime | None = None, limit: int = SUGGESTIONS_LIMIT
) -> list[Material]:
    """Up to ``limit`` approved materials ``viewer`` may share with ``hcp`` now (both halves of
    :func:`portal.policy.can_share_material_with`, in SQL: :func:`content.services.
    shareable_clause`) whose family the HCP has never opened: material of the products and
    therapeutic areas they chose first, then the newest. Empty for viewers who may not contact
    the HCP. Reads only."""
    if not policy.can_contact_hcp(viewer, hcp):
        return []
    return _suggestions(viewer, hcp, preferences.current(hcp), now or utcnow(), limit=limit)


def _suggestions(
    viewer: User,
    hcp: User,
    chosen: ContactPreferences,
    now: dt.datetime,
    *,
    limit: int = SUGGESTIONS_LIMIT,
) -> list[Material]:
    if policy.is_medical(viewer):
        # covered_product_ids walks a medical colleague's teammates: read them at once.
        coverage.load_teammates(viewer)
    preferred: list[ColumnElement[bool]] = []
    if chosen.product_ids:
        preferred.append(Material.product_id.in_(list(chosen.product_ids)))
    if chosen.areas:
        preferred.append(Material.therapeutic_area.in_(list(chosen.areas)))
    seen = select(MaterialEvent.family_id).where(MaterialEvent.user_id == hcp.id)
    shareable = [content.shareable_clause(viewer, hcp, now), Material.family_id.not_in(seen)]
    # The newest of the HCP's topics first, then the newest of the rest: each part read in
    # effective-date order and cut at the pool's size (one statement; ranking the whole
    # shareable library by a CASE would sort all of it).
    ranks = (
        [(0, or_(*preferred)), (1, or_(*preferred).is_not(true()))] if preferred else [(1, true())]
    )
    parts = [
        select(Material.id.label("id"), literal(rank).label("rank"))
        .where(*shareable, condition)
        .order_by(Material.effective_at.desc(), Material.id.desc())
        .limit(_SUGGESTION_POOL)
        .subquery()
        for rank, condition in ranks
    ]
    pool = union_all(*(select(part.c.id, part.c.rank) for part in parts)).subquery()
    query = (
        select(Material)
        .options(joinedload(Material.product))
        .join(pool, pool.c.id == Material.id)
        .order_by(pool.c.rank, Material.effective_at.desc(), Material.id.desc())
    )
    chosen_materials: list[Material] = []
    families: set[int] = set()
    for material in db.session.scalars(query):
        family = material.family_id or material.id
        if family in families:
            continue
        families.add(family)
        chosen_materials.append(material)
        if len(chosen_materials) == limit:
            break
    return chosen_materials


def _notes(viewer: User, hcp: User) -> tuple[NoteView | None, list[NoteView]]:
    notes = db.session.scalars(
        select(PlanNote)
        .options(joinedload(PlanNote.author))
        .where(PlanNote.hcp_id == hcp.id)
        .order_by(PlanNote.updated_at.desc())
        .limit(NOTES_LIMIT)
    ).all()
    mine: NoteView | None = None
    others: list[NoteView] = []
    for note in notes:
        if note.author_id == viewer.id:
            mine = _view(note, mine=True)
        elif policy.can_view_side_record(viewer, note) and note.text.strip():
            others.append(_view(note, mine=False))
    return mine, others


def _view(note: PlanNote, *, mine: bool) -> NoteView:
    return NoteView(
        author_name=note.author.name,
        role=note.author.role.label,
        text=note.text,
        updated_at=note.updated_at,
        mine=mine,
    )


# --- saving a plan note --------------------------------------------------------------------------
@transactional
def save_plan_note(
    author: User, hcp_id: int, text: str, *, now: dt.datetime | None = None
) -> PlanNote:
    """Save ``author``'s plan for their next interaction with HCP ``hcp_id`` (one note per author
    and HCP, replaced by each save; empty text clears it). It belongs to the author's side of
    the firewall.

    :class:`~portal.errors.NotFound` when the HCP does not exist or ``author`` may not open
    their record; :class:`~portal.errors.PermissionDenied` unless
    :func:`portal.policy.can_write_plan_note`; :class:`~portal.errors.InvalidInput` (field
    ``text``) beyond ``PLAN_NOTE_MAX`` characters. Audits ``hcp.plan_saved`` with the HCP's id
    and the text's length (never the text)."""
    hcp = db.session.get(User, hcp_id) if inputs.is_id(hcp_id) else None
    policy.require_visible(hcp is not None and policy.can_view_hcp_record(author, hcp), "That HCP")
    assert hcp is not None
    policy.require(
        policy.can_write_plan_note(author, hcp), "You cannot write a plan note for this HCP."
    )
    text = (text or "").strip()
    if len(text) > PLAN_NOTE_MAX:
        raise InvalidInput(
            f"Keep the plan under {PLAN_NOTE_MAX:,} characters (it has {len(text):,}).",
            field="text",
        )
    if not inputs.is_text(text):
        raise InvalidInput("The plan contains characters that cannot be stored.", field="text")
    now = now or utcnow()
    note = db.session.get(PlanNote, (hcp.id, author.id))
    if note is None:
        note = PlanNote(hcp_id=hcp.id, author_id=author.id)
        db.session.add(note)
    note.side = policy.side_of(author.role)
    note.text = text
    note.updated_at = now
    audit.record(author, "hcp.plan_saved", hcp, hcp=hcp.id, length=len(text))
    return note
