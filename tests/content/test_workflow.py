"""The MLR workflow: draft → in review → approved → published → expired; withdrawal, rejection,
new versions; every transition audited, every refused one changing nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select

from content import services
from content.models import (
    Bookmark,
    Classification,
    Material,
    MaterialEvent,
    MaterialKind,
    MaterialReview,
    MaterialState,
    MaterialStatus,
    ReviewDecision,
)
from portal import audit
from portal.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from portal.extensions import db
from portal.models import AuditRecord, Profession, Role, User, utcnow
from tests.content.factories import (
    DAY,
    audit_actions,
    indexed_ids,
    make_author,
    make_material,
    make_reviewer,
    material_input,
)
from tests.factories import make_hcp, make_product, make_user

ALL_ROLES = list(Role)


def actor_of(role: Role) -> User:
    return make_hcp() if role is Role.HCP else make_user(role)


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def stored() -> dict[str, Any]:
    """Everything a workflow step may write."""
    counts: dict[str, Any] = {
        m.__name__: count(m)
        for m in (Material, MaterialReview, AuditRecord, Bookmark, MaterialEvent)
    }
    counts["index"] = indexed_ids()
    return counts


def committed(material: Material) -> Material:
    """The material as the database holds it once the refused request is over."""
    db.session.rollback()
    db.session.refresh(material)
    return material


def snapshot(material: Material) -> dict[str, Any]:
    return {
        name: getattr(material, name)
        for name in (
            "status", "title", "version", "approved_at", "approved_by_id", "withdrawn_at",
            "retired_at", "review_comments", "effective_at", "expires_at", "approval_code",
        )
    }  # fmt: skip


def hcp_sees(material: Material) -> bool:
    try:
        services.get_material(make_hcp(), material.id)
    except NotFound:
        return False
    return True


# --- the path of a material ---------------------------------------------------------------------


def test_content_manager_creates_a_draft_first_version(app):
    author = make_author()
    product = make_product(therapeutic_area="Oncology")

    material = services.create_material(
        author,
        material_input(
            product,
            title="  Dosing in renal impairment  ",
            summary="  How to adjust.  ",
            body_markdown="# Heading\n\nTake *one* tablet.",
            approval_code=" prt-us-0042 ",
            kind=MaterialKind.DOSING_GUIDE.value,
            classification=Classification.MEDICAL.value,
            professions=["physician", "pharmacist"],
            specialties=["Oncology"],
            countries=["US", "CA"],
        ),
    )

    db.session.expire_all()
    assert material.status is MaterialStatus.DRAFT
    assert material.version == 1
    assert material.family_id == material.id
    assert material.supersedes_id is None
    assert material.author_id == author.id
    assert material.title == "Dosing in renal impairment"
    assert material.summary == "How to adjust."
    assert material.approval_code == "PRT-US-0042"
    assert material.therapeutic_area == "Oncology"
    assert material.kind is MaterialKind.DOSING_GUIDE
    assert material.classification is Classification.MEDICAL
    assert material.professions == ["pharmacist", "physician"]
    assert material.specialties == ["Oncology"]
    assert material.countries == ["CA", "US"]
    assert "<h1>Heading</h1>" in material.body_html
    assert material.body_text == "Heading Take one tablet."
    assert material.state_at(utcnow()) is MaterialState.DRAFT
    assert audit_actions(material) == [("material.created", material.id, author.id)]
    assert material.id not in indexed_ids()
    assert not hcp_sees(material)


def test_creation_audit_names_the_code_and_title(app):
    material = make_material(status="draft", title="Heart failure guide", approval_code="HF-1")

    [record] = db.session.scalars(select(AuditRecord).where(AuditRecord.action.like("material.%")))
    assert record.action == "material.created"
    assert record.target_type == "materials"
    assert record.target_id == str(material.id)
    assert record.details == {"code": "HF-1 v1", "title": "Heart failure guide"}


def test_author_edits_a_draft_and_the_edit_is_audited(app):
    author = make_author()
    material = make_material(author, status="draft", title="Old title")
    colleague = make_author()

    services.update_material(
        colleague, material, material_input(title="New title", approval_code="NEW-1")
    )

    db.session.expire_all()
    assert material.title == "New title"
    assert material.approval_code == "NEW-1"
    assert material.status is MaterialStatus.DRAFT
    assert audit_actions(material)[-1] == ("material.updated", material.id, colleague.id)


def test_submitting_a_draft_sends_it_to_review(app):
    author = make_author()
    material = make_material(author, status="draft")

    services.submit_for_review(author, material)

    db.session.expire_all()
    assert material.status is MaterialStatus.IN_REVIEW
    assert material.submitted_at is not None
    assert material.state_at(utcnow()) is MaterialState.IN_REVIEW
    assert audit_actions(material)[-1] == ("material.submitted", material.id, author.id)
    assert material.id not in indexed_ids()
    assert not hcp_sees(material)


def test_reviewer_approves_a_version_in_review_and_it_is_published(app):
    author = make_author()
    reviewer = make_reviewer()
    material = make_material(author, status="in_review")

    services.approve_material(reviewer, material, comments="  Claims referenced.  ")

    db.session.expire_all()
    assert material.status is MaterialStatus.APPROVED
    assert material.approved_by_id == reviewer.id
    assert material.approved_at is not None
    assert material.review_comments == "Claims referenced."
    assert [(r.reviewer_id, r.decision, r.comments) for r in material.reviews] == [
        (reviewer.id, ReviewDecision.APPROVED, "Claims referenced.")
    ]
    assert material.state_at(utcnow()) is MaterialState.PUBLISHED
    assert material.id in indexed_ids()
    assert hcp_sees(material)
    [record] = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "material.approved")
    )
    assert record.actor_id == reviewer.id
    assert record.target_id == str(material.id)
    assert record.details == {"code": material.code_label, "comments": "Claims referenced."}


def test_approved_material_is_published_at_its_effective_date_and_expires_at_its_expiry(app):
    start = utcnow().replace(microsecond=0)
    effective = start + 5 * DAY
    expires = start + 40 * DAY
    with time_machine.travel(start, tick=False):
        material = make_material(status="in_review", effective_at=effective, expires_at=expires)
        services.approve_material(make_reviewer(), material)
        assert material.state_at(utcnow()) is MaterialState.APPROVED
        assert not hcp_sees(material)

    with time_machine.travel(effective, tick=False):
        assert material.state_at(utcnow()) is MaterialState.PUBLISHED
        assert hcp_sees(material)

    with time_machine.travel(expires, tick=False):
        assert material.state_at(utcnow()) is MaterialState.EXPIRED
        assert not hcp_sees(material)

    db.session.expire_all()
    assert material.status is MaterialStatus.APPROVED  # dates apply when read; nothing stored


@pytest.mark.parametrize("role", [Role.CONTENT_MANAGER, Role.MLR_REVIEWER])
@pytest.mark.parametrize("state", ["published", "approved", "expired"])
def test_approved_material_is_withdrawn_at_once_with_its_reason(app, role, state):
    material = make_material(status=state)
    actor = make_user(role)

    services.withdraw_material(actor, material, reason="  Safety update: new contraindication. ")

    db.session.expire_all()
    assert material.status is MaterialStatus.WITHDRAWN
    assert material.state_at(utcnow()) is MaterialState.WITHDRAWN
    assert material.withdrawn_at is not None
    assert material.withdrawn_by_id == actor.id
    assert material.withdrawn_reason == "Safety update: new contraindication."
    assert material.id not in indexed_ids()
    assert not hcp_sees(material)
    [record] = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "material.withdrawn")
    )
    assert (record.actor_id, record.target_id) == (actor.id, str(material.id))
    assert record.details["reason"] == "Safety update: new contraindication."


@pytest.mark.parametrize("reason", ["", "   ", "bad", "  abcd  "])
def test_withdrawal_needs_a_reason(app, reason):
    material = make_material()
    before, state = stored(), snapshot(material)

    with pytest.raises(InvalidInput) as caught:
        services.withdraw_material(make_author(), material, reason=reason)

    assert caught.value.field == "reason"
    assert snapshot(committed(material)) == state
    assert stored() == before


def test_rejection_returns_the_version_to_draft_with_the_comments(app):
    author = make_author()
    reviewer = make_reviewer()
    material = make_material(author, status="in_review")

    services.reject_material(reviewer, material, comments="  Reference 3 is missing.  ")

    db.session.expire_all()
    assert material.status is MaterialStatus.DRAFT
    assert material.review_comments == "Reference 3 is missing."
    assert [(r.reviewer_id, r.decision, r.comments) for r in material.reviews] == [
        (reviewer.id, ReviewDecision.REJECTED, "Reference 3 is missing.")
    ]
    assert material.approved_at is None
    assert material.id not in indexed_ids()
    assert not hcp_sees(material)
    [record] = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "material.rejected")
    )
    assert (record.actor_id, record.target_id) == (reviewer.id, str(material.id))
    assert record.details["comments"] == "Reference 3 is missing."


def test_rejected_draft_is_fixed_resubmitted_and_approved(app):
    author = make_author()
    reviewer = make_reviewer()
    material = make_material(author, status="in_review", title="First try")
    services.reject_material(reviewer, material, comments="Title overstates the benefit.")

    services.update_material(
        author, material, material_input(title="Second try", approval_code=material.approval_code)
    )
    services.submit_for_review(author, material)
    services.approve_material(reviewer, material)

    db.session.expire_all()
    assert material.status is MaterialStatus.APPROVED
    assert material.title == "Second try"
    assert [r.decision for r in material.reviews] == [
        ReviewDecision.REJECTED,
        ReviewDecision.APPROVED,
    ]


@pytest.mark.parametrize("comments", ["", "    ", "no", " abcd "])
def test_rejection_needs_comments_for_the_author(app, comments):
    material = make_material(status="in_review")
    before, state = stored(), snapshot(material)

    with pytest.raises(InvalidInput) as caught:
        services.reject_material(make_reviewer(), material, comments=comments)

    assert caught.value.field == "comments"
    assert snapshot(committed(material)) == state
    assert stored() == before


# --- versions -----------------------------------------------------------------------------------


def test_new_version_copies_the_approved_one_into_a_draft_of_the_next_version(app):
    v1 = make_material(
        title="Guide",
        body_markdown="Old **dosing**.",
        specialties=["Cardiology"],
        countries=["US"],
        classification="medical",
    )
    colleague = make_author()

    v2 = services.new_version(colleague, v1)

    db.session.expire_all()
    assert v2.id != v1.id
    assert (v2.family_id, v2.version, v2.supersedes_id) == (v1.family_id, 2, v1.id)
    assert v2.status is MaterialStatus.DRAFT
    assert v2.author_id == colleague.id
    for name in services.COPIED_ON_NEW_VERSION:
        assert getattr(v2, name) == getattr(v1, name), name
    assert v2.approved_at is None and v2.approved_by_id is None
    assert v1.status is MaterialStatus.APPROVED
    assert audit_actions(v2) == [("material.versioned", v2.id, colleague.id)]
    [record] = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "material.versioned")
    )
    assert record.details == {"code": f"{v1.approval_code} v2", "from_version": 1}


def test_new_version_replaces_the_old_one_only_when_approved(app):
    author = make_author()
    reviewer = make_reviewer()
    v1 = make_material(author, title="Guide v1")
    v2 = services.new_version(author, v1)
    services.update_material(
        author, v2, material_input(title="Guide v2", approval_code=v1.approval_code)
    )

    assert hcp_sees(v1) and not hcp_sees(v2)
    services.submit_for_review(author, v2)
    assert hcp_sees(v1) and not hcp_sees(v2)
    assert indexed_ids() >= {v1.id} and v2.id not in indexed_ids()

    services.approve_material(reviewer, v2)

    db.session.expire_all()
    assert v1.status is MaterialStatus.RETIRED
    assert v1.retired_at is not None
    assert v2.status is MaterialStatus.APPROVED
    assert not hcp_sees(v1) and hcp_sees(v2)
    assert v1.id not in indexed_ids() and v2.id in indexed_ids()
    assert db.session.get(Material, v1.id) is not None  # kept for the record
    assert [m.version for m in services.versions_of(author, v2)] == [1, 2]
    assert audit_actions(v1)[-1] == ("material.retired", v1.id, reviewer.id)
    [retired] = db.session.scalars(
        select(AuditRecord).where(AuditRecord.action == "material.retired")
    )
    assert retired.details == {"code": f"{v1.approval_code} v1", "by_version": 2}


def test_rejected_new_version_leaves_the_approved_one_live(app):
    author = make_author()
    v1 = make_material(author)
    v2 = services.new_version(author, v1)
    services.submit_for_review(author, v2)

    services.reject_material(make_reviewer(), v2, comments="Keep the old claims for now.")

    db.session.expire_all()
    assert v1.status is MaterialStatus.APPROVED and hcp_sees(v1)
    assert v2.status is MaterialStatus.DRAFT and not hcp_sees(v2)


def test_a_third_version_follows_the_second(app):
    author = make_author()
    v1 = make_material(author)
    v2 = services.new_version(author, v1)
    services.submit_for_review(author, v2)
    services.approve_material(make_reviewer(), v2)

    v3 = services.new_version(author, v2)

    assert (v3.version, v3.supersedes_id, v3.family_id) == (3, v2.id, v1.id)


def test_every_transition_writes_its_audit_record_naming_the_actor(app):
    author = make_author()
    editor = make_author()
    reviewer = make_reviewer()
    withdrawer = make_reviewer()

    v1 = services.create_material(author, material_input(approval_code="AUD-1"))
    services.update_material(editor, v1, material_input(approval_code="AUD-1"))
    services.submit_for_review(author, v1)
    services.reject_material(reviewer, v1, comments="Needs a reference.")
    services.submit_for_review(author, v1)
    services.approve_material(reviewer, v1)
    v2 = services.new_version(editor, v1)
    services.submit_for_review(editor, v2)
    services.approve_material(reviewer, v2)
    services.withdraw_material(withdrawer, v2, reason="Label change pending.")

    assert audit_actions(v1, v2) == [
        ("material.created", v1.id, author.id),
        ("material.updated", v1.id, editor.id),
        ("material.submitted", v1.id, author.id),
        ("material.rejected", v1.id, reviewer.id),
        ("material.submitted", v1.id, author.id),
        ("material.approved", v1.id, reviewer.id),
        ("material.versioned", v2.id, editor.id),
        ("material.submitted", v2.id, editor.id),
        ("material.retired", v1.id, reviewer.id),
        ("material.approved", v2.id, reviewer.id),
        ("material.withdrawn", v2.id, withdrawer.id),
    ]
    assert audit.verify().ok


# --- refused transitions ------------------------------------------------------------------------


def test_author_cannot_approve_their_own_material(app):
    author = make_author()
    material = make_material(author, status="in_review")
    before, state = stored(), snapshot(material)

    with pytest.raises(PermissionDenied):
        services.approve_material(author, material)

    assert snapshot(committed(material)) == state
    assert stored() == before


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_reviewer_cannot_decide_on_a_version_they_authored(app, decision):
    # A content manager who later became an MLR reviewer still may not review their own work.
    author = make_author()
    material = make_material(author, status="in_review")
    author.role = Role.MLR_REVIEWER
    db.session.commit()
    before, state = stored(), snapshot(material)

    with pytest.raises(PermissionDenied):
        if decision == "approve":
            services.approve_material(author, material)
        else:
            services.reject_material(author, material, comments="Looks fine to me.")

    assert snapshot(committed(material)) == state
    assert stored() == before


def test_author_of_a_new_version_cannot_approve_it(app):
    v1 = make_material()
    versioner = make_author()
    v2 = services.new_version(versioner, v1)
    services.submit_for_review(versioner, v2)
    versioner.role = Role.MLR_REVIEWER
    db.session.commit()

    with pytest.raises(PermissionDenied):
        services.approve_material(versioner, v2)
    assert committed(v2).status is MaterialStatus.IN_REVIEW


@pytest.mark.parametrize(
    "state", ["in_review", "approved", "published", "expired", "withdrawn", "retired"]
)
def test_only_drafts_can_be_edited_or_submitted(app, state):
    author = make_author()
    material = make_material(author, status=state)
    before, was = stored(), snapshot(material)

    with pytest.raises(PermissionDenied):
        services.update_material(
            author,
            material,
            material_input(title="Quietly changed", approval_code=material.approval_code),
        )
    assert snapshot(committed(material)) == was
    with pytest.raises(PermissionDenied):
        services.submit_for_review(author, material)

    assert snapshot(committed(material)) == was
    assert stored() == before


def test_expired_version_in_review_cannot_be_approved(app):
    start = utcnow()
    material = make_material(status="in_review", expires_at=start + DAY)
    reviewer = make_reviewer()
    before, state = stored(), snapshot(material)

    with (
        time_machine.travel(start + 2 * DAY, tick=False),
        pytest.raises((InvalidInput, PermissionDenied)),
    ):
        services.approve_material(reviewer, material)

    assert snapshot(committed(material)) == state
    assert committed(material).status is MaterialStatus.IN_REVIEW
    assert stored() == before


def test_version_in_review_cannot_be_approved_at_its_expiry_instant(app):
    start = utcnow()
    material = make_material(status="in_review", expires_at=start + DAY)

    with (
        time_machine.travel(material.expires_at, tick=False),
        pytest.raises((InvalidInput, PermissionDenied)),
    ):
        services.approve_material(make_reviewer(), material)
    assert committed(material).status is MaterialStatus.IN_REVIEW


def test_expired_version_in_review_can_still_be_returned_to_its_author(app):
    # Nobody may approve it, and the author cannot touch it while in review: unless a reviewer
    # can send it back, it is stuck, and it blocks every new version of its family.
    start = utcnow()
    author = make_author()
    v1 = make_material(author, expires_at=start + 200 * DAY)
    v2 = services.new_version(author, v1)
    services.update_material(
        author,
        v2,
        material_input(approval_code=v1.approval_code, expires_at=start + DAY),
    )
    services.submit_for_review(author, v2)

    with time_machine.travel(start + 2 * DAY, tick=False):
        services.reject_material(make_reviewer(), v2, comments="Expired while waiting: redate.")
        services.update_material(
            author, v2, material_input(approval_code=v1.approval_code, expires_at=start + 90 * DAY)
        )
        services.submit_for_review(author, v2)

    assert committed(v2).status is MaterialStatus.IN_REVIEW


def test_draft_past_its_expiry_cannot_be_sent_to_review(app):
    start = utcnow()
    author = make_author()
    material = make_material(author, status="draft", expires_at=start + DAY)

    with (
        time_machine.travel(start + 2 * DAY, tick=False),
        pytest.raises(InvalidInput) as caught,
    ):
        services.submit_for_review(author, material)

    assert caught.value.field == "expires_at"
    assert committed(material).status is MaterialStatus.DRAFT


@pytest.mark.parametrize(
    "state", ["draft", "approved", "published", "expired", "withdrawn", "retired"]
)
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_only_versions_in_review_can_be_approved_or_rejected(app, state, decision):
    material = make_material(status=state)
    reviewer = make_reviewer()
    before, was = stored(), snapshot(material)

    with pytest.raises(PermissionDenied):
        if decision == "approve":
            services.approve_material(reviewer, material)
        else:
            services.reject_material(reviewer, material, comments="Please change it.")

    assert snapshot(committed(material)) == was
    assert stored() == before


@pytest.mark.parametrize("state", ["draft", "in_review", "withdrawn", "retired"])
def test_only_approved_material_can_be_withdrawn(app, state):
    material = make_material(status=state)
    before, was = stored(), snapshot(material)

    with pytest.raises(PermissionDenied):
        services.withdraw_material(make_author(), material, reason="Out of date.")

    assert snapshot(committed(material)) == was
    assert stored() == before


@pytest.mark.parametrize("state", ["draft", "in_review", "withdrawn", "retired"])
def test_only_approved_material_gets_a_new_version(app, state):
    material = make_material(status=state)
    before = stored()

    with pytest.raises(PermissionDenied):
        services.new_version(make_author(), material)

    assert stored() == before


@pytest.mark.parametrize("open_state", ["draft", "in_review", "rejected"])
def test_second_new_version_while_one_is_open_is_a_conflict(app, open_state):
    author = make_author()
    v1 = make_material(author)
    v2 = services.new_version(author, v1)
    if open_state in ("in_review", "rejected"):
        services.submit_for_review(author, v2)
    if open_state == "rejected":
        services.reject_material(make_reviewer(), v2, comments="Not yet, please.")
    before = stored()

    with pytest.raises(Conflict):
        services.new_version(make_author(), v1)

    assert stored() == before


def test_expired_material_gets_a_new_version(app):
    author = make_author()
    v1 = make_material(author, status="expired")

    v2 = services.new_version(author, v1)

    assert (v2.version, v2.status) == (2, MaterialStatus.DRAFT)


# --- who may do what ----------------------------------------------------------------------------

Action = Callable[[User, Material | None], Any]


def _create(actor: User, material: Material | None) -> Any:
    return services.create_material(actor, material_input())


def _edit(actor: User, material: Material | None) -> Any:
    assert material is not None
    return services.update_material(
        actor, material, material_input(title="Edited", approval_code=material.approval_code)
    )


def _submit(actor: User, material: Material | None) -> Any:
    assert material is not None
    return services.submit_for_review(actor, material)


def _approve(actor: User, material: Material | None) -> Any:
    assert material is not None
    return services.approve_material(actor, material)


def _reject(actor: User, material: Material | None) -> Any:
    assert material is not None
    return services.reject_material(actor, material, comments="Please rework the claims.")


def _withdraw(actor: User, material: Material | None) -> Any:
    assert material is not None
    return services.withdraw_material(actor, material, reason="Withdrawn for a safety update.")


def _new_version(actor: User, material: Material | None) -> Any:
    assert material is not None
    return services.new_version(actor, material)


# action: (what it acts on, who may do it)
ACTIONS: dict[str, tuple[Action, str | None, frozenset[Role]]] = {
    "create": (_create, None, frozenset({Role.CONTENT_MANAGER})),
    "edit": (_edit, "draft", frozenset({Role.CONTENT_MANAGER})),
    "submit": (_submit, "draft", frozenset({Role.CONTENT_MANAGER})),
    "approve": (_approve, "in_review", frozenset({Role.MLR_REVIEWER})),
    "reject": (_reject, "in_review", frozenset({Role.MLR_REVIEWER})),
    "withdraw": (_withdraw, "published", frozenset({Role.CONTENT_MANAGER, Role.MLR_REVIEWER})),
    "new_version": (_new_version, "published", frozenset({Role.CONTENT_MANAGER})),
}
DENIED = [
    pytest.param(action, role, id=f"{action}-by-{role.value}")
    for action, (_, _, allowed) in ACTIONS.items()
    for role in ALL_ROLES
    if role not in allowed
]
ALLOWED = [
    pytest.param(action, role, id=f"{action}-by-{role.value}")
    for action, (_, _, allowed) in ACTIONS.items()
    for role in sorted(allowed)
]


@pytest.mark.parametrize(("action", "role"), DENIED)
def test_roles_outside_the_workflow_step_are_refused(app, action, role):
    perform, state, _ = ACTIONS[action]
    material = make_material(status=state) if state else None
    actor = actor_of(role)
    before = stored()
    was = snapshot(material) if material else None

    with pytest.raises(PermissionDenied):
        perform(actor, material)

    if material is not None:
        assert snapshot(committed(material)) == was
    assert stored() == before


@pytest.mark.parametrize(("action", "role"), ALLOWED)
def test_the_role_of_each_workflow_step_may_take_it(app, action, role):
    perform, state, _ = ACTIONS[action]
    material = make_material(status=state) if state else None
    before = count(AuditRecord)

    perform(make_user(role), material)

    assert count(AuditRecord) > before


@pytest.mark.parametrize(("action", "role"), ALLOWED)
def test_suspended_staff_cannot_take_their_workflow_step(app, action, role):
    perform, state, _ = ACTIONS[action]
    material = make_material(status=state) if state else None
    before = stored()

    with pytest.raises(PermissionDenied):
        perform(make_user(role, suspended=True), material)

    assert stored() == before


# --- input --------------------------------------------------------------------------------------


def test_approval_code_is_unique_across_families(app):
    make_material(status="draft", approval_code="PRT-US-0042")
    before = stored()

    with pytest.raises(InvalidInput) as caught:
        services.create_material(make_author(), material_input(approval_code=" prt-us-0042 "))

    assert caught.value.field == "approval_code"
    assert stored() == before


def test_draft_cannot_take_the_approval_code_of_another_family(app):
    make_material(approval_code="PRT-US-0042")
    author = make_author()
    other = make_material(author, status="draft", approval_code="PRT-US-0043")
    before, was = stored(), snapshot(other)

    with pytest.raises(InvalidInput) as caught:
        services.update_material(author, other, material_input(approval_code="PRT-US-0042"))

    assert caught.value.field == "approval_code"
    assert snapshot(committed(other)) == was
    assert stored() == before


def test_versions_of_one_family_share_their_approval_code(app):
    author = make_author()
    v1 = make_material(author, approval_code="PRT-US-0042")
    v2 = services.new_version(author, v1)

    services.update_material(author, v2, material_input(approval_code="PRT-US-0042"))

    assert v2.code_label == "PRT-US-0042 v2"


BAD_INPUTS = [
    pytest.param({"title": ""}, "title", id="no-title"),
    pytest.param({"title": "   "}, "title", id="blank-title"),
    pytest.param({"title": "x" * 201}, "title", id="long-title"),
    pytest.param({"summary": "  "}, "summary", id="blank-summary"),
    pytest.param({"product_id": None}, "product_id", id="no-product"),
    pytest.param({"product_id": 999_999}, "product_id", id="unknown-product"),
    pytest.param({"kind": "brochure"}, "kind", id="unknown-kind"),
    pytest.param({"kind": ""}, "kind", id="no-kind"),
    pytest.param({"classification": "secret"}, "classification", id="unknown-classification"),
    pytest.param({"approval_code": ""}, "approval_code", id="no-code"),
    pytest.param({"approval_code": "PRT US 1"}, "approval_code", id="code-with-spaces"),
    pytest.param({"approval_code": "<script>"}, "approval_code", id="code-with-markup"),
    pytest.param({"approval_code": "X" * 41}, "approval_code", id="long-code"),
    pytest.param({"effective_at": None}, "effective_at", id="no-effective-date"),
    pytest.param({"expires_at": None}, "expires_at", id="no-expiry"),
    pytest.param({"expires_at": "effective"}, "expires_at", id="expiry-equals-effective"),
    pytest.param({"expires_at": "before"}, "expires_at", id="expiry-before-effective"),
    pytest.param({"professions": ["surgeon"]}, "professions", id="unknown-profession"),
    pytest.param({"specialties": ["Astrology"]}, "specialties", id="unknown-specialty"),
    pytest.param({"countries": ["XX"]}, "countries", id="unknown-country"),
]


def _bad_input(overrides: dict[str, Any]) -> Any:
    overrides = dict(overrides)
    effective = utcnow() - DAY
    if overrides.get("expires_at") == "effective":
        overrides.update(effective_at=effective, expires_at=effective)
    elif overrides.get("expires_at") == "before":
        overrides.update(effective_at=effective, expires_at=effective - DAY)
    return material_input(**overrides)


@pytest.mark.parametrize(("overrides", "field"), BAD_INPUTS)
def test_bad_input_is_refused_and_nothing_is_stored(app, overrides, field):
    author = make_author()
    data = _bad_input(overrides)
    before = stored()

    with pytest.raises(InvalidInput) as caught:
        services.create_material(author, data)

    assert field in caught.value.errors
    assert set(caught.value.errors) == {field}
    assert caught.value.field == field
    assert stored() == before


@pytest.mark.parametrize(("overrides", "field"), BAD_INPUTS)
def test_bad_edit_is_refused_and_the_draft_is_unchanged(app, overrides, field):
    author = make_author()
    material = make_material(author, status="draft")
    before, was = stored(), snapshot(material)

    with pytest.raises(InvalidInput) as caught:
        services.update_material(author, material, _bad_input(overrides))

    assert set(caught.value.errors) == {field}
    assert snapshot(committed(material)) == was
    assert stored() == before


def test_every_bad_field_is_reported_at_once(app):
    data = material_input(
        title=" ",
        summary="",
        product_id=None,
        kind="brochure",
        classification="secret",
        approval_code="no spaces allowed",
        effective_at=None,
        expires_at=None,
        professions=[Profession.PHYSICIAN.value, "surgeon"],
        specialties=["Astrology"],
        countries=["XX"],
    )

    with pytest.raises(InvalidInput) as caught:
        services.create_material(make_author(), data)

    assert set(caught.value.errors) == {
        "title", "summary", "product_id", "kind", "classification", "approval_code",
        "effective_at", "expires_at", "professions", "specialties", "countries",
    }  # fmt: skip
    assert all(caught.value.errors.values())
