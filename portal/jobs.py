"""Background work that runs once, however many processes run workers.

A job is a row of the ``jobs`` table, queued with :func:`enqueue` in the transaction of the change
that causes it: it exists if and only if that change committed (no lost and no phantom jobs, which
a separate queue such as Redis could not promise). A worker claims one due row at a time with a
single ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED)`` that sets a lease
(``claimed_by``, ``claimed_until``): concurrent workers pass over each other's rows, and a job whose
worker died is claimed again once its lease expires. A failing job is retried with exponential
backoff and, after its attempts, kept as ``failed`` with its last error.

A periodic job (the overdue sweep) is one row per kind with the unique key ``periodic:<kind>``:
every worker asks for it at each round and only the first insert counts; after each run the row
moves its ``run_at`` on by the period. So each period's run happens once across all processes, and a
slow run never overlaps the next (its lease covers it).

Each worker round also drains the mail outbox, which claims its rows the same way
(``services/mail.py``), and every outbox a feature registered with :func:`register_outbox`
(the webhook deliveries, ``portal/webhooks/delivery.py``). See README "Background work".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import case, delete, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from portal.extensions import db
from portal.models import Job, JobState, UTCDateTime, utcnow
from portal.unit_of_work import unit_of_work

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]
# An outbox's drain: ``drain(limit=..., worker=...)`` sends at most ``limit`` due rows, claimed
# for ``worker``, and returns ``(sent, failed)``.
Drain = Callable[..., tuple[int, int]]

BASE_BACKOFF = dt.timedelta(seconds=30)
MAX_BACKOFF = dt.timedelta(hours=1)
KEEP_FINISHED = dt.timedelta(days=14)  # done jobs are deleted after this (failed ones are kept)
# How many jobs, and mails, one round takes before it lets a stop request in / looks again.
ROUND_LIMIT = 100
MAIL_CHUNK = 10


@dataclasses.dataclass(frozen=True)
class JobKind:
    """What runs a kind of job. ``run(payload)`` runs in an app context, inside a unit of work
    that also records the job's completion. ``lease`` must outlast its longest run; ``every``
    makes the kind periodic."""

    name: str
    run: Handler
    max_attempts: int = 5
    lease: dt.timedelta = dt.timedelta(minutes=5)
    every: dt.timedelta | None = None


@dataclasses.dataclass(frozen=True)
class Claim:
    """A job this worker holds, as plain values (the session is committed after claiming)."""

    id: int
    kind: str
    attempts: int
    payload: dict[str, Any]


def init_app(app: Flask) -> None:
    """Keep this app's job kinds in ``app.extensions["jobs"]`` and register the core's own:
    the overdue sweep (questions and PV cases) and the pruning of old finished jobs."""
    register(
        app,
        "questions.sweep_overdue",
        _sweep_overdue,
        every=dt.timedelta(seconds=app.config["OUTBOX_INTERVAL_SECONDS"]),
    )
    register(app, "jobs.prune", _prune_finished, every=dt.timedelta(hours=1))


def register(
    app: Flask,
    name: str,
    run: Handler,
    *,
    max_attempts: int = 5,
    lease: dt.timedelta = dt.timedelta(minutes=5),
    every: dt.timedelta | None = None,
) -> JobKind:
    """Declare a kind of job (from a feature's ``init_app``) before anything enqueues it."""
    kind = JobKind(name, run, max_attempts=max_attempts, lease=lease, every=every)
    _kinds(app)[name] = kind
    return kind


def register_outbox(app: Flask, name: str, drain: Drain) -> None:
    """Have every worker round drain an outbox of a feature (from its ``init_app``), after the
    jobs and the mail, in chunks like the mail."""
    _outboxes(app)[name] = drain


def _outboxes(app: Flask | None = None) -> dict[str, Drain]:
    outboxes: dict[str, Drain] = (app or current_app).extensions.setdefault("outboxes", {})
    return outboxes


def _kinds(app: Flask | None = None) -> dict[str, JobKind]:
    # Created on first use: a feature's init_app may register its kinds before ours has run.
    kinds: dict[str, JobKind] = (app or current_app).extensions.setdefault("jobs", {})
    return kinds


def enqueue(
    kind: str,
    payload: dict[str, Any] | None = None,
    *,
    run_at: dt.datetime | None = None,
    unique_key: str | None = None,
) -> int | None:
    """Queue a job in the caller's transaction (never commits); returns its id.

    The job exists only if that transaction commits. With ``unique_key``, a job holding the same
    key (queued by anyone, earlier or concurrently, until it is pruned) makes this a no-op that
    returns ``None``. Raises ``ValueError`` for a kind no one registered.
    """
    if kind not in _kinds():
        raise ValueError(f"unknown job kind {kind!r}")
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Job)
        .values(
            kind=kind,
            payload=payload or {},
            unique_key=unique_key,
            state=JobState.PENDING,
            run_at=run_at or utcnow(),
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["unique_key"])
        .returning(Job.id)
    )
    job_id: int | None = db.session.execute(statement).scalar()
    return job_id


def schedule_periodic() -> None:
    """Make sure each periodic kind has its row (committed); safe from any number of processes."""
    wanted = {f"periodic:{k.name}": k.name for k in _kinds().values() if k.every is not None}
    # Read first: an insert that finds its key taken would still use up a sequence number.
    present = set(db.session.scalars(select(Job.unique_key).where(Job.unique_key.in_(wanted))))
    for key, name in wanted.items():
        if key not in present:
            enqueue(name, unique_key=key)
    db.session.commit()


def claim_next(worker: str) -> Claim | None:
    """Claim the next due job for ``worker`` and count the attempt (committed), or ``None``.

    One statement, so it is atomic on SQLite as well. Only kinds this process knows are taken
    (during a rolling upgrade, older workers leave newer kinds to newer workers).
    """
    kinds = _kinds()
    now = utcnow()
    due = (
        select(Job.id)
        .where(
            Job.state == JobState.PENDING,
            Job.kind.in_(list(kinds)),
            Job.run_at <= now,
            or_(Job.claimed_until.is_(None), Job.claimed_until < now),
        )
        .order_by(Job.run_at, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    # Each kind's own lease, set in the same statement.
    lease_until = case(
        {name: literal(now + kind.lease, UTCDateTime()) for name, kind in kinds.items()},
        value=Job.kind,
    )
    row = db.session.execute(
        update(Job)
        .where(Job.id == due)
        .values(attempts=Job.attempts + 1, claimed_by=worker[:120], claimed_until=lease_until)
        .returning(Job.id, Job.kind, Job.attempts, Job.payload)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    db.session.commit()
    if row is None:
        return None
    return Claim(row.id, row.kind, row.attempts, dict(row.payload or {}))


def run_claimed(claim: Claim, worker: str) -> bool:
    """Run a claimed job and record the outcome; returns whether it succeeded.

    The handler's work commits together with the job's completion. A failure rolls that back
    and schedules a retry (``BASE_BACKOFF`` doubling, at most ``MAX_BACKOFF``), or marks the job
    ``failed`` after ``max_attempts``; a periodic job simply waits for its next period.
    """
    kind = _kinds()[claim.kind]
    try:
        # The services the handler calls join this unit of work: their changes and the job's
        # completion commit together, so a worker dying in between cannot make it run twice.
        with unit_of_work():
            kind.run(claim.payload)
            finished = db.session.execute(
                update(Job)
                # Still ours: a lease that ran out meanwhile (a run longer than the kind's
                # lease) means another worker has it now, and its outcome is the one recorded.
                .where(Job.id == claim.id, Job.claimed_by == worker[:120])
                .values(_finished_values(kind, utcnow()))
                .execution_options(synchronize_session=False)
            )
    except Exception as exc:
        log.exception("job %s (%s) failed, attempt %s", claim.id, claim.kind, claim.attempts)
        _record_failure(claim, kind, exc)
        return False
    if not finished.rowcount:  # type: ignore[attr-defined]
        log.warning("job %s (%s) outlived its lease; another worker took it", claim.id, kind.name)
    return True


def _finished_values(kind: JobKind, now: dt.datetime) -> dict[str, Any]:
    values: dict[str, Any] = {"finished_at": now, "claimed_until": None, "last_error": None}
    if kind.every is None:
        return {**values, "state": JobState.DONE}
    return {**values, "run_at": now + kind.every, "attempts": 0}


def _record_failure(claim: Claim, kind: JobKind, exc: Exception) -> None:
    now = utcnow()
    values: dict[str, Any] = {
        "last_error": f"{type(exc).__name__}: {exc}"[:2000],
        "claimed_until": None,
        "state": JobState.PENDING,
    }
    if kind.every is not None:
        values["run_at"] = now + kind.every
    elif claim.attempts >= kind.max_attempts:
        values.update(state=JobState.FAILED, finished_at=now)
    else:
        values["run_at"] = now + backoff(claim.attempts)
    db.session.execute(
        update(Job)
        .where(Job.id == claim.id)
        .values(values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def backoff(attempts: int) -> dt.timedelta:
    """The wait before the next attempt after ``attempts`` failed ones: 30 s, 1 min, 2 min, …"""
    return min(BASE_BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


def run_due(
    worker: str, *, limit: int = ROUND_LIMIT, stop: threading.Event | None = None
) -> tuple[int, int]:
    """Run due jobs one at a time until none is due, ``limit`` ran, or ``stop`` is set;
    returns ``(succeeded, failed)``. Safe in any number of processes and threads at once."""
    succeeded = failed = 0
    while succeeded + failed < limit and not (stop and stop.is_set()):
        claim = claim_next(worker)
        if claim is None:
            break
        if run_claimed(claim, worker):
            succeeded += 1
        else:
            failed += 1
    return succeeded, failed


def worker_name(role: str = "worker") -> str:
    """``host:pid:role``: who holds a claim, in the job table and the outbox."""
    return f"{socket.gethostname()}:{os.getpid()}:{role}"


def runs_in_process(app: Flask) -> bool:
    """Whether a web process runs the worker itself: ``WORKER_IN_PROCESS`` when set, otherwise
    only on the embedded default (SQLite, no ``REDIS_URL``), where there is one process."""
    configured = app.config.get("WORKER_IN_PROCESS")
    if configured is not None:
        return bool(configured)
    embedded = str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite")
    return embedded and not app.config.get("REDIS_URL")


@dataclasses.dataclass
class Round:
    """What one worker round did."""

    jobs: int = 0
    jobs_failed: int = 0
    mail: int = 0
    mail_failed: int = 0
    outbox: int = 0  # rows of the features' outboxes (webhook deliveries) sent
    outbox_failed: int = 0
    more: bool = False  # a limit was reached: more may be due right now

    def add(self, other: Round) -> None:
        self.jobs += other.jobs
        self.jobs_failed += other.jobs_failed
        self.mail += other.mail
        self.mail_failed += other.mail_failed
        self.outbox += other.outbox
        self.outbox_failed += other.outbox_failed


class Worker:
    """The loop run by ``flask worker`` (and, on the embedded default, by the web process):
    periodic rows, due jobs, then the mail outbox, every ``OUTBOX_INTERVAL_SECONDS`` when idle.
    Setting :attr:`stop` ends it after the job or mail in hand."""

    def __init__(self, app: Flask, *, role: str = "worker") -> None:
        self.app = app
        self.name = worker_name(role)
        self.stop = threading.Event()
        self.poll_seconds = float(app.config["OUTBOX_INTERVAL_SECONDS"])

    def run_round(self) -> Round:
        from portal.services import mail

        result = Round()
        with self.app.app_context():
            try:
                schedule_periodic()
                result.jobs, result.jobs_failed = run_due(self.name, stop=self.stop)
                # In chunks, so that a stop request waits for a few mails at most.
                more_mail = True
                while (
                    more_mail
                    and not self.stop.is_set()
                    and result.mail + result.mail_failed < ROUND_LIMIT
                ):
                    sent, failed = mail.send_pending(limit=MAIL_CHUNK, worker=self.name)
                    result.mail += sent
                    result.mail_failed += failed
                    more_mail = sent + failed == MAIL_CHUNK
                more_outbox = self._drain_outboxes(result)
                jobs_left = result.jobs + result.jobs_failed >= ROUND_LIMIT
                result.more = (jobs_left or more_mail or more_outbox) and not self.stop.is_set()
            finally:
                db.session.remove()
        return result

    def _drain_outboxes(self, result: Round) -> bool:
        """Drain each registered outbox in chunks (a stop request waits for a few rows at most);
        returns whether one may have more due right now."""
        more = False
        for drain in _outboxes(self.app).values():
            sent = failed = 0
            full = True
            while full and not self.stop.is_set() and sent + failed < ROUND_LIMIT:
                done, not_done = drain(limit=MAIL_CHUNK, worker=self.name)
                sent, failed = sent + done, failed + not_done
                full = done + not_done == MAIL_CHUNK
            result.outbox += sent
            result.outbox_failed += failed
            more = more or full
        return more

    def run_once(self) -> Round:
        """Run everything due now, then return (``flask worker --once``, cron, tests)."""
        total = Round()
        for _ in range(ROUND_LIMIT):  # a job that keeps re-queueing itself cannot hold us
            result = self.run_round()
            total.add(result)
            if not result.more or self.stop.is_set():
                break
        return total

    def run_forever(self) -> None:
        log.info("worker %s started", self.name)
        while not self.stop.is_set():
            try:
                more = self.run_round().more
            except Exception:  # the database away, for instance: try again next poll
                log.exception("worker round failed")
                more = False
            if not more:
                self.stop.wait(self.poll_seconds)
        log.info("worker %s stopped", self.name)


def _sweep_overdue(payload: dict[str, Any]) -> None:
    from portal.questions.sweeps import sweep_overdue

    sweep_overdue()


def _prune_finished(payload: dict[str, Any]) -> None:
    db.session.execute(
        delete(Job).where(Job.state == JobState.DONE, Job.finished_at < utcnow() - KEEP_FINISHED)
    )
