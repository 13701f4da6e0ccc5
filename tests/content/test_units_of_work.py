"""Each content service is one unit of work: a step that fails after the first write takes the
whole action back (the change, its review, its index entry and its audit record), and a service
called inside a larger action commits only with it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, text

from content import services
from content.models import Bookmark, Material, MaterialEvent, MaterialReview, MaterialStatus
from content.search import index_for
from portal import audit, unit_of_work
from portal.errors import Conflict
from portal.extensions import db
from portal.models import AuditRecord, User
from tests.content.factories import (
    indexed_ids,
    make_author,
    make_material,
    make_reviewer,
    material_input,
)
from tests.factories import make_hcp


class Boom(Exception):
    """The failure injected midway through a service."""


def stored() -> dict[str, Any]:
    """Everything a content service may write, as this session sees it: what was committed and
    anything a failed service left in the open transaction (so a missing rollback shows too)."""
    counts: dict[str, Any] = {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (Material, MaterialReview, AuditRecord, Bookmark, MaterialEvent)
    }
    counts["index"] = indexed_ids()
    rows = db.session.execute(select(Material.id, Material.status))
    counts["statuses"] = {material_id: status for material_id, status in rows}
    return counts


def fail_after_audit(monkeypatch: pytest.MonkeyPatch, action: str) -> list[str]:
    """Make the service raise right after writing its ``action`` audit record, that is after
    every change it makes; returns the actions recorded (and then taken back)."""
    real_record = audit.record
    recorded: list[str] = []

    def record_then_fail(actor: User | None, what: str, *args: Any, **kwargs: Any) -> Any:
        entry = real_record(actor, what, *args, **kwargs)
        recorded.append(what)
        if what == action:
            db.session.flush()  # the change and its record are in the database, uncommitted
            raise Boom(what)
        return entry

    monkeypatch.setattr(audit, "record", record_then_fail)
    return recorded


# --- the workflow: each step audited, each failure taking everything back -----------------------


def _create(author: User, material: Material) -> Any:
    return services.create_material(author, material_input())


def _edit(author: User, material: Material) -> Any:
    return services.update_material(author, material, material_input(title="Changed"))


def _submit(author: User, material: Material) -> Any:
    return services.submit_for_review(author, material)


def _approve(author: User, material: Material) -> Any:
    return services.approve_material(make_reviewer(), material, comments="Fine.")


def _reject(author: User, material: Material) -> Any:
    return services.reject_material(make_reviewer(), material, comments="Change the title.")


def _withdraw(author: User, material: Material) -> Any:
    return services.withdraw_material(author, material, reason="Label update.")


def _new_version(author: User, material: Material) -> Any:
    return services.new_version(author, material)


WORKFLOW: list[tuple[Callable[[User, Material], Any], str, str]] = [
    (_create, "draft", "material.created"),
    (_edit, "draft", "material.updated"),
    (_submit, "draft", "material.submitted"),
    (_approve, "in_review", "material.approved"),
    (_reject, "in_review", "material.rejected"),
    (_withdraw, "published", "material.withdrawn"),
    (_new_version, "published", "material.versioned"),
]


@pytest.mark.parametrize(
    ("step", "state", "action"), WORKFLOW, ids=[action for _, _, action in WORKFLOW]
)
def test_workflow_step_failing_after_its_writes_leaves_nothing_written(
    app, monkeypatch, step, state, action
):
    author = make_author()
    material = make_material(author, status=state)
    before = stored()
    recorded = fail_after_audit(monkeypatch, action)

    with pytest.raises(Boom):
        step(author, material)

    assert recorded[-1] == action  # the failure came after the change and its audit record
    assert unit_of_work.depth() == 0
    assert stored() == before


def test_approval_failing_after_retiring_the_previous_version_keeps_it_live(app, monkeypatch):
    author = make_author()
    v1 = make_material(author)
    v2 = services.new_version(author, v1)
    services.submit_for_review(author, v2)
    before = stored()
    recorded = fail_after_audit(monkeypatch, "material.approved")

    with pytest.raises(Boom):
        services.approve_material(make_reviewer(), v2)

    assert recorded == ["material.retired", "material.approved"]
    assert stored() == before
    assert before["statuses"][v1.id] is MaterialStatus.APPROVED
    assert v1.id in before["index"]


def test_approval_code_taken_in_a_race_is_a_conflict_and_nothing_is_stored(app, monkeypatch):
    make_material(status="draft", approval_code="PRT-US-0042")
    before = stored()
    # Another manager's draft took the code after this one's check: the constraint decides.
    monkeypatch.setattr(services, "_code_taken_by_other_family", lambda code, family_id: False)

    with pytest.raises(Conflict):
        services.create_material(make_author(), material_input(approval_code="PRT-US-0042"))

    assert unit_of_work.depth() == 0
    assert stored() == before


# --- reading, bookmarks and the index ----------------------------------------------------------


def test_reader_services_join_the_enclosing_unit_and_go_back_with_it(app):
    hcp = make_hcp()
    material = make_material()
    before = stored()

    with pytest.raises(Boom), unit_of_work.unit_of_work():
        services.record_view(hcp, material)
        services.set_bookmark(hcp, material, on=True)
        assert db.session.scalar(select(func.count()).select_from(Bookmark)) == 1
        raise Boom("after the writes")

    assert stored() == before


def test_reindex_failing_midway_indexes_nothing(app, monkeypatch):
    first, second = make_material(direct=True), make_material(direct=True)
    db.session.execute(text("DELETE FROM material_search"))
    db.session.commit()
    index = index_for(db.session)
    real_add = index.add

    def add_then_fail(session: Any, material: Material) -> None:
        real_add(session, material)
        if material.id == second.id:
            raise Boom("index")

    monkeypatch.setattr(index, "add", add_then_fail)
    monkeypatch.setattr(services, "index_for", lambda session: index)

    with pytest.raises(Boom):
        services.reindex_all()

    assert indexed_ids() == set()
    monkeypatch.undo()
    assert services.reindex_all() == 2
    assert indexed_ids() == {first.id, second.id}
