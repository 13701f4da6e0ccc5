"""One unit of work: commit on success, roll back on error, nested units join the outermost."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal import realtime, unit_of_work
from portal.extensions import db, socketio
from portal.models import Product
from portal.unit_of_work import transactional
from tests.factories import unique


def _add_product() -> str:
    code = unique("U")
    db.session.add(Product(code=code, name=f"Product {code}", therapeutic_area="Cardiology"))
    db.session.flush()
    return code


def _stored(code: str) -> bool:
    db.session.rollback()  # forget anything not committed: only what was is read back
    return bool(db.session.scalar(select(func.count()).where(Product.code == code)))


@pytest.fixture
def emitted(app, monkeypatch):
    sent: list[str] = []
    monkeypatch.setattr(socketio, "emit", lambda event, *args, **kwargs: sent.append(event))
    return sent


def test_a_unit_that_ends_normally_commits_and_sends_its_events(app, emitted):
    with unit_of_work.unit_of_work():
        code = _add_product()
        realtime.emit_after_commit(db.session, "product_added", {"code": code})
    assert _stored(code)
    assert emitted == ["product_added"]
    assert unit_of_work.depth() == 0


def test_a_unit_that_raises_rolls_back_and_sends_nothing(app, emitted):
    code = ""
    with pytest.raises(RuntimeError), unit_of_work.unit_of_work():
        code = _add_product()
        realtime.emit_after_commit(db.session, "product_added", {"code": code})
        raise RuntimeError("boom")
    assert not _stored(code)
    assert emitted == []
    assert unit_of_work.depth() == 0


@transactional
def _service(*, fail: bool = False) -> str:
    code = _add_product()
    if fail:
        raise ValueError("refused")
    return code


def test_a_service_called_alone_is_its_own_unit(app):
    assert _stored(_service())


def test_nested_units_commit_once_with_the_outermost(app, monkeypatch):
    commits: list[int] = []
    real_commit = db.session.commit
    monkeypatch.setattr(db.session, "commit", lambda: (commits.append(1), real_commit())[1])
    with unit_of_work.unit_of_work():
        first = _service()
        second = _service()
        assert unit_of_work.depth() == 1
        assert commits == []
    assert commits == [1]
    assert _stored(first) and _stored(second)


def test_a_failing_nested_unit_takes_the_whole_action_back(app):
    first = ""
    with pytest.raises(ValueError), unit_of_work.unit_of_work():
        first = _service()
        _service(fail=True)
    assert not _stored(first)


def test_start_over_is_refused_once_the_enclosing_unit_has_written(app):
    @transactional
    def recovering() -> None:
        unit_of_work.start_over()

    with pytest.raises(RuntimeError), unit_of_work.unit_of_work():
        code = _add_product()
        recovering()
    assert not _stored(code)


def test_start_over_is_allowed_when_the_enclosing_unit_has_only_read(app):
    @transactional
    def recovering() -> str:
        _add_product()
        unit_of_work.start_over()  # drops what this unit wrote so far, and carries on
        return _add_product()

    with unit_of_work.unit_of_work():
        db.session.scalar(select(func.count()).select_from(Product))
        code = recovering()
    assert _stored(code)
