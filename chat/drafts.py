"""What arrives to be sent, and what the rules read for it.

A send is a :class:`Draft`, nothing checked yet. For a batch of drafts, one read in the
transaction that will store them gives a :class:`Snapshot`: the conversations with both
participants, the sign-in sessions the senders' sockets were bound to, the restricted phrases
and the product names. :func:`chat.messages.check` applies every rule to each draft against it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Collection, Sequence
from types import SimpleNamespace
from typing import Any, cast

from flask import current_app
from sqlalchemy import ScalarSelect, Select, Table, bindparam, func, select

from chat.models import Conversation, ConversationState, ReadState, RestrictedPhrase
from portal import inputs
from portal.extensions import db
from portal.models import Product, Role, User, UserSession, utcnow
from portal.services import sessions


@dataclasses.dataclass(frozen=True)
class Draft:
    """A send as the client asked for it, nothing checked yet. ``session_id`` is the sign-in
    session a socket was bound to: the transaction that stores the message reads it and refuses
    a session that has ended (``SessionEnded``). Sends from a page or a service, whose request
    was authenticated already, have none."""

    sender_id: int
    conversation_id: Any
    client_id: Any
    body: Any = None
    material_id: Any = None
    session_id: str | None = None


@dataclasses.dataclass(frozen=True)
class Participant:
    """The columns of ``users`` policy and the audit trail need, read with the batch."""

    id: int
    name: str
    email: str
    role: Role
    suspended: bool
    is_authenticated: bool = True


@dataclasses.dataclass(frozen=True)
class ConversationFacts:
    """The columns of ``conversations`` policy needs, with both participants."""

    id: int
    hcp_id: int
    staff_id: int
    state: ConversationState
    hcp: Participant
    staff: Participant
    # When each participant was last sent the "new message" e-mail (their receipt row).
    hcp_emailed_at: dt.datetime | None = None
    staff_emailed_at: dt.datetime | None = None

    def emailed_at(self, user_id: int) -> dt.datetime | None:
        return self.hcp_emailed_at if user_id == self.hcp_id else self.staff_emailed_at

    def participant(self, user_id: int) -> Participant | None:
        if user_id == self.hcp_id:
            return self.hcp
        return self.staff if user_id == self.staff_id else None

    def peer_of(self, user_id: int) -> Participant:
        return self.staff if user_id == self.hcp_id else self.hcp


@dataclasses.dataclass(frozen=True)
class SessionFacts:
    user_id: int
    user_version: int
    created_at: dt.datetime
    last_seen_at: dt.datetime
    revoked_at: dt.datetime | None
    suspended: bool
    session_version: int


_USER_COLUMNS = ("id", "name", "email", "role", "suspended")


@functools.cache
def _statements() -> SimpleNamespace:
    """The batch's read, built once: only its parameters change from batch to batch."""
    users, conversations = cast(Table, User.__table__), cast(Table, Conversation.__table__)
    user_sessions = cast(Table, UserSession.__table__)
    hcp, staff, owner = users.alias("hcp"), users.alias("staff"), users.alias("owner")
    states = cast(Table, ReadState.__table__)
    phrases_table, products = (
        cast(Table, RestrictedPhrase.__table__),
        cast(Table, Product.__table__),
    )
    hcp_state, staff_state = states.alias("hcp_state"), states.alias("staff_state")
    # The sessions the sockets were bound to, held (FOR SHARE on PostgreSQL) until the batch
    # commits: whatever ends a session (sign-out, revocation, suspension, a password reset,
    # "sign out everywhere") updates its row, so it waits for the messages checked under the
    # session, or these messages wait for it and see it. (SQLite has no row locks; its
    # deployment is one server process, whose batch reads and writes without letting another
    # request run in between unless presence is asked of Redis.)
    bound = (
        select(
            user_sessions.c.id.label("session_id"),
            user_sessions.c.user_id,
            user_sessions.c.user_version,
            user_sessions.c.created_at,
            user_sessions.c.last_seen_at,
            user_sessions.c.revoked_at,
            owner.c.suspended,
            owner.c.session_version,
        )
        .join_from(user_sessions, owner, user_sessions.c.user_id == owner.c.id)
        .where(user_sessions.c.id.in_(bindparam("sessions", expanding=True)))
        .with_for_update(read=True, of=user_sessions)
        .cte("bound")
    )
    return SimpleNamespace(
        # One read for the batch: each conversation with both participants (whoever sends, the
        # sender is one of them), when each was last e-mailed about a new message (an offline
        # peer may be due one), the participants' bound sessions among the senders' (a row per
        # session; a sender's session that is no participant's is left to find_live), and,
        # the same in every row, the restricted phrases in force (as chat.phrases lists them)
        # and every product's name (as portal.safety.services.product_names reads them for
        # detection), each joined by newlines (neither has one).
        read=select(
            conversations.c.id, conversations.c.hcp_id, conversations.c.staff_id,
            conversations.c.state,
            *(hcp.c[name] for name in _USER_COLUMNS),
            *(staff.c[name] for name in _USER_COLUMNS),
            hcp_state.c.emailed_at, staff_state.c.emailed_at,
            *bound.c,
            _joined(select(phrases_table.c.phrase).where(phrases_table.c.active.is_(True))
                    .order_by(phrases_table.c.id)),
            _joined(select(products.c.name).order_by(products.c.id)),
        )
        .join_from(conversations, hcp, conversations.c.hcp_id == hcp.c.id)
        .join(staff, conversations.c.staff_id == staff.c.id)
        .outerjoin(hcp_state, (hcp_state.c.conversation_id == conversations.c.id)
                   & (hcp_state.c.user_id == conversations.c.hcp_id))
        .outerjoin(staff_state, (staff_state.c.conversation_id == conversations.c.id)
                   & (staff_state.c.user_id == conversations.c.staff_id))
        .outerjoin(bound, (bound.c.user_id == conversations.c.hcp_id)
                   | (bound.c.user_id == conversations.c.staff_id))
        .where(conversations.c.id.in_(bindparam("ids", expanding=True))),
    )  # fmt: skip


def _joined(texts: Select[tuple[str]]) -> ScalarSelect[str]:
    ordered = texts.subquery()
    return select(func.aggregate_strings(ordered.c[0], "\n")).scalar_subquery()


class SessionToConfirm(Exception):
    """The draft's session is not plainly live (due its once-a-minute touch, or past a limit):
    :func:`portal.services.sessions.find_live` judges it, then the draft is sent again."""


@dataclasses.dataclass
class Snapshot:
    """What the rules read for a batch of drafts, in the transaction that stores them."""

    now: dt.datetime
    sessions: dict[str, SessionFacts]
    conversations: dict[int, ConversationFacts]
    phrases: list[str]
    products: tuple[str, ...]
    confirmed: frozenset[str] = frozenset()  # sessions find_live has just judged live

    @classmethod
    def read(cls, drafts: Sequence[Draft], *, confirmed: Collection[str] = ()) -> Snapshot:
        conversation_ids = sorted(
            {d.conversation_id for d in drafts if inputs.is_id(d.conversation_id)}
        )
        found: dict[int, ConversationFacts] = {}
        bound: dict[str, SessionFacts] = {}
        phrase_list = product_list = None
        if conversation_ids:
            session_ids = sorted({d.session_id for d in drafts if d.session_id})
            params = {"ids": conversation_ids, "sessions": session_ids}
            width, start = len(_USER_COLUMNS), 4 + 2 * len(_USER_COLUMNS) + 2
            for row in db.session.connection().execute(_statements().read, params):
                if row[0] not in found:
                    found[row[0]] = ConversationFacts(
                        row[0], row[1], row[2], row[3], Participant(*row[4 : 4 + width]),
                        Participant(*row[4 + width : 4 + 2 * width]), row[start - 2],
                        row[start - 1],
                    )  # fmt: skip
                if row[start] is not None:
                    bound[row[start]] = SessionFacts(*row[start + 1 : start + 8])
                phrase_list, product_list = row[-2], row[-1]
        return cls(
            now=utcnow(),
            sessions=bound,
            conversations=found,
            phrases=phrase_list.split("\n") if phrase_list else [],
            products=tuple(product_list.split("\n")) if product_list else (),
            confirmed=frozenset(confirmed),
        )

    def session_live(self, draft: Draft) -> bool:
        """Whether the draft's session still stands; ``SessionToConfirm`` when only
        :func:`portal.services.sessions.find_live` can tell (it also records the use)."""
        if draft.session_id is None:
            return True
        facts = self.sessions.get(draft.session_id)
        if facts is None:
            # Not a participant's session (or no such conversation): find_live says whether it
            # stands, and the conversation's own check answers the draft.
            if draft.session_id in self.confirmed:
                return True
            raise SessionToConfirm(draft.session_id)
        if (
            facts.user_id != draft.sender_id
            or facts.revoked_at is not None
            or facts.suspended
            or facts.user_version != facts.session_version
        ):
            return False
        if draft.session_id in self.confirmed:
            return True
        config = current_app.config
        lifetime = dt.timedelta(hours=float(config["SESSION_ABSOLUTE_HOURS"]))
        idle = min(int(config["STAFF_IDLE_MINUTES"]), int(config["HCP_IDLE_MINUTES"]))
        # Used within the last minute (find_live wrote last_seen_at then) and far from every
        # limit: live. Anything else is find_live's to judge (idle, expired, or due a touch).
        fresh = min(sessions.TOUCH_INTERVAL, dt.timedelta(minutes=idle))
        if self.now - facts.last_seen_at < fresh and self.now - facts.created_at < lifetime:
            return True
        raise SessionToConfirm(draft.session_id)

    def takes_part(self, draft: Draft) -> bool:
        """Whether the sender is a participant of the conversation the draft names."""
        conversation = self.conversations.get(draft.conversation_id)
        return conversation is not None and conversation.participant(draft.sender_id) is not None
