"""One unit of work: the changes of one action are committed together, or none of them are.

A public service function that changes state is declared a unit of work with
:func:`transactional`; its body never commits. An entry point that makes several calls one action
(a view's form action, a CLI command, a demo seeder) wraps them in :func:`unit_of_work`: the units
inside it join the enclosing one, and only the outermost commits. So the audit record, the
notifications and the real-time events queued by a service (``portal.realtime``) commit with the
change they describe, or are dropped with it.

No savepoints: a failure inside a nested unit rolls back the whole action once it leaves the
outermost unit. Catch a service's errors outside the unit of work, never inside it: changes made
before the error would otherwise commit with the rest.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from portal.extensions import db

P = ParamSpec("P")
R = TypeVar("R")

# session.info keys: the open units (innermost last; each says whether the transaction had
# written nothing when it began), and whether the transaction has flushed anything yet.
_UNITS = "portal.unit_of_work.units"
_FLUSHED = "portal.unit_of_work.flushed"
# Work to do in a new unit once the outermost unit has rolled back (see after_rollback).
_AFTER_ROLLBACK = "portal.unit_of_work.after_rollback"

log = logging.getLogger(__name__)


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, flush_context: Any) -> None:
    session.info[_FLUSHED] = True


@event.listens_for(Session, "after_transaction_end")
def _forget_flush(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_FLUSHED, None)


def _untouched(session: Any) -> bool:
    """Whether the session's transaction has written nothing yet, nor holds changes to write."""
    return not (session.info.get(_FLUSHED) or session.new or session.dirty or session.deleted)


def depth() -> int:
    """How many units of work enclose the caller in the current session (0: none)."""
    return len(db.session.info.get(_UNITS, ()))


@contextlib.contextmanager
def unit_of_work() -> Iterator[None]:
    """Run the block as one unit of work: commit when it ends normally, roll back when it raises.

    Inside another unit of work the block joins it: nothing is committed or rolled back here, the
    outermost unit decides for all.
    """
    session = db.session
    units: list[bool] = session.info.setdefault(_UNITS, [])
    outermost = not units
    units.append(_untouched(session))
    try:
        yield
        if outermost:
            session.info.pop(_AFTER_ROLLBACK, None)
            session.commit()
    except BaseException:
        if outermost:
            session.rollback()
        raise
    finally:
        units.pop()
        if outermost:
            session.info.pop(_UNITS, None)
            _run_after_rollback(session)


def after_rollback(callback: Callable[[], None]) -> None:
    """Run ``callback`` in a unit of work of its own if the enclosing action rolls back; drop it
    if the action commits. For the record of a refusal, which the rollback of the refused
    action would otherwise erase (``contact.refused``: compliance asks why a contact failed)."""
    db.session.info.setdefault(_AFTER_ROLLBACK, []).append(callback)


def _run_after_rollback(session: Any) -> None:
    callbacks: list[Callable[[], None]] = session.info.pop(_AFTER_ROLLBACK, [])
    for callback in callbacks:
        try:
            with unit_of_work():
                callback()
        except Exception:  # the refused action's own error is what the caller must see
            log.exception("recording after a rollback failed")


def transactional(function: Callable[P, R]) -> Callable[P, R]:
    """Declare a service function a unit of work (see :func:`unit_of_work`)."""

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with unit_of_work():
            return function(*args, **kwargs)

    return run


def start_over() -> None:
    """Roll back the transaction and carry on in a new one, for a unit of work that recovers from
    a failed step (a database error leaves the transaction unusable) and goes on another way.

    Only when nothing was written before the current unit began (it is the outermost, or the
    units around it have only read so far): otherwise rolling back would drop their changes while
    they carry on, so ``RuntimeError`` is raised instead (chained to the error being handled) and
    the whole action rolls back.
    """
    units = db.session.info.get(_UNITS, [])
    if units and not units[-1]:
        raise RuntimeError("cannot start over: the enclosing unit of work has written already")
    db.session.rollback()
