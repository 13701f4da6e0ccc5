"""Sending at volume: sends arriving at the same moment share one transaction (group commit).

The socket's ``send`` event calls :func:`send`. It checks what needs no database (the client
id, the body's limits), counts the send against the rate limit, and queues it; whoever holds
the turn hands everything queued by then to :func:`chat.messages.send_many`, the one write path
of every message (each draft checked by :func:`chat.messages.check`, all written by
:func:`chat.messages.store` in one transaction), and each sender gets its own outcome: its
MESSAGE, or its refusal. No rule lives here.

Under gevent, the holder of the turn first lets the event loop run until it is idle, so that
every send already received joins the batch; with threads, senders queue up on their own while
a batch is being stored.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import Any

from flask import current_app

from chat import messages
from chat.drafts import Draft

MAX_BATCH = 256  # messages per transaction: bounds how long one commit holds the writers

Store = Callable[[Sequence[Draft]], list[messages.Outcome]]


@dataclasses.dataclass(eq=False)
class Pending:
    """A draft waiting for its batch, and what became of it."""

    draft: Draft
    outcome: messages.Outcome | None = None


def send(
    sender_id: int,
    session_id: str,
    conversation_id: int,
    *,
    client_id: str,
    body: Any = None,
    material_id: int | None = None,
) -> dict[str, Any]:
    """Send a message as the user of a socket bound to sign-in session ``session_id`` and return
    MESSAGE; raise what the send was refused with (``SessionEnded`` when the session has ended,
    checked in the transaction that would store the message). Rate limited."""
    draft = Draft(sender_id, conversation_id, client_id, body, material_id, session_id=session_id)
    messages.check_input(draft)
    messages.check_rate(sender_id)
    pending = Pending(draft)
    _group().submit(pending)
    assert pending.outcome is not None
    return pending.outcome.result()[0]


class GroupCommit:
    """One batch at a time: a sender queues its draft, then waits for the turn; whoever gets it
    stores everything queued by then, so a sender may find its draft already answered."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: list[Pending] = []
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()

    def submit(self, pending: Pending) -> None:
        with self._queue_lock:
            self._queue.append(pending)
        with self._turn:
            while pending.outcome is None:
                _let_others_queue()
                with self._queue_lock:
                    batch = self._queue[:MAX_BATCH]
                    del self._queue[:MAX_BATCH]
                try:
                    outcomes = self._store([p.draft for p in batch])
                except Exception as exc:  # each sender answers "unavailable", logged there
                    outcomes = [messages.Outcome(error=exc) for _ in batch]
                for item, outcome in zip(batch, outcomes, strict=True):
                    item.outcome = outcome


def _let_others_queue() -> None:
    from gevent import monkey

    if monkey.is_module_patched("threading"):
        import gevent

        gevent.idle()  # every send already received gets to queue before the batch is taken


def _group() -> GroupCommit:
    # Per application: tests run several apps (several databases) in one process.
    extensions = current_app.extensions
    group = extensions.get("chat.group_commit")
    if group is None:
        group = extensions.setdefault("chat.group_commit", GroupCommit(messages.send_many))
    assert isinstance(group, GroupCommit)
    return group
