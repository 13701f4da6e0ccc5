"""The machinery of the authorization matrix and the payload corpus: who the personas are, the
objects their requests point at, how a route's URL is filled in, and how an answer is classified.

The expected answers are data, in :mod:`tests.security.expected_access`; this module only reads
the app (its URL map and its Socket.IO handlers) and asks it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import Rule
from werkzeug.routing.converters import AnyConverter
from werkzeug.test import TestResponse

from chat import consent as chat_consent
from chat import phrases as chat_phrases
from chat.models import Conversation
from content.models import Material
from content.services import Upload
from portal.accounts import call_notes, outreach
from portal.api import tokens as api_tokens
from portal.extensions import db, socketio
from portal.models import Notification, Role, User, Verification, utcnow
from portal.questions import settings as routing_settings
from portal.questions.models import Question, RoutingRule
from portal.records import export as records_export
from portal.safety import follow_ups
from portal.safety.attestations import Attestation
from portal.safety.models import PvCase
from portal.services import sessions
from portal.webhooks.models import WebhookDelivery, WebhookEvent, WebhookSubscription
from tests.chat.factories import active_conversation, send
from tests.conftest import IsolatedClient, login
from tests.content.factories import make_material
from tests.factories import make_hcp, make_product, make_territory, make_user
from tests.portal.questions.factories import ask
from tests.portal.safety.factories import open_case

NAMESPACE = "/chat"
ANONYMOUS = "anonymous"
HCP = "hcp"
HCP_PENDING = "hcp_pending"
STAFF = tuple(role.value for role in Role if role is not Role.HCP)
SIGNED_IN = (HCP, HCP_PENDING, *STAFF)
PERSONAS = (ANONYMOUS, *SIGNED_IN)

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
# An id no factory reaches, inside the range every database stores: the "no such object" case.
MISSING_ID = 2**31 - 1
# Socket.IO's own handlers, not events of the protocol.
LIFECYCLE_EVENTS = frozenset({"connect", "disconnect"})

_ARGUMENT = re.compile(
    r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\((?P<args>[^)]*)\))?:)?"
    r"(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>"
)


# --- the app's surface ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Route:
    """One (method, URL) of the URL map; a rule with an ``any(...)`` converter gives one per
    choice, so a new choice needs a decision of its own."""

    method: str
    rule: str  # the rule, any(...) arguments replaced by the chosen value
    endpoint: str
    arguments: tuple[str, ...]  # the arguments left to fill in

    @property
    def key(self) -> str:
        return f"{self.method} {self.rule}"

    @property
    def takes_ids(self) -> bool:
        return any(_is_id(name) for name in self.arguments)


def _is_id(name: str) -> bool:
    return name.endswith("_id") or name == "seq"


def routes(app: Flask) -> list[Route]:
    """Every method of every rule of the URL map, static files excluded."""
    found: list[Route] = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for text, arguments in _expand(rule):
                found.append(Route(method, text, rule.endpoint, arguments))
    return sorted(found, key=lambda r: (r.rule, r.method))


def _expand(rule: Rule) -> Iterator[tuple[str, tuple[str, ...]]]:
    choices: dict[str, list[str]] = {
        name: sorted(converter.items)
        for name, converter in rule._converters.items()
        if isinstance(converter, AnyConverter)
    }
    arguments = tuple(sorted(rule.arguments - set(choices)))
    if not choices:
        yield rule.rule, arguments
        return
    [(name, values)] = choices.items()  # one any() per rule is all the portal uses
    for value in values:
        yield (
            _ARGUMENT.sub(lambda m, v=value: v if m["name"] == name else m[0], rule.rule),
            arguments,
        )


def socket_events() -> list[str]:
    """Every client event the ``/chat`` namespace handles."""
    assert socketio.server is not None, "create the app first"
    handlers = socketio.server.handlers.get(NAMESPACE, {})
    return sorted(set(handlers) - LIFECYCLE_EVENTS)


def fill(route: Route, values: dict[str, Any], *, ids: Any = None) -> str:
    """The route's URL with its arguments filled in from ``values``; ``ids`` replaces every id
    argument (a missing id, a huge number...)."""

    def value(match: re.Match[str]) -> str:
        name = match["name"]
        if ids is not None and _is_id(name):
            return str(ids)
        assert name in values, f"{route.key}: no value for <{name}> (add it to World.values)"
        return str(values[name])

    return _ARGUMENT.sub(value, route.rule)


# --- answers -------------------------------------------------------------------------------------
OK, REDIRECT, REFUSED, LOGIN, FORBIDDEN, NOT_FOUND, INVALID, GONE = (
    "ok",
    "redirect",
    "refused",
    "login",
    "forbidden",
    "not_found",
    "invalid",
    "gone",
)
NO_CONNECTION = "no_connection"  # a socket event when the connection itself was refused
# The integration API (/api/v1) takes API tokens only: a browser session, signed in or not, is
# no credential there (401 problem document). Its scopes are tested in tests/portal/api/.
UNAUTHENTICATED = "unauthenticated"
_STATUSES = {
    401: UNAUTHENTICATED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    400: INVALID,
    409: INVALID,
    422: INVALID,
    410: GONE,
}


def outcome(response: TestResponse, client: FlaskClient | None = None) -> str:
    """Classify an HTTP answer: ``ok`` (2xx), ``login`` (sent to the sign-in page),
    ``refused`` (sent back with a "danger" flash: the portal's pages refuse that way),
    ``redirect`` (anywhere else), ``forbidden``, ``not_found``, ``gone``, ``invalid`` (the view
    was reached and refused the input: 400, 409, 422), else ``status <code>``.

    With ``client``, the flashes the answer left in the session are read and cleared."""
    status = response.status_code
    flashes = _take_flashes(client) if client is not None else []
    if 300 <= status < 400:
        if urlsplit(response.headers.get("Location", "")).path == "/login":
            return LOGIN
        return REFUSED if "danger" in flashes else REDIRECT
    if 200 <= status < 300:
        return OK
    return _STATUSES.get(status, f"status {status}")


def _take_flashes(client: FlaskClient) -> list[str]:
    with client.session_transaction() as session:
        return [category for category, _message in session.pop("_flashes", [])]


def ack_outcome(ack: Any) -> str:
    """Classify a socket acknowledgement: ``ok`` or the error code; anything else is a crash."""
    if isinstance(ack, dict) and ack.get("ok") is True:
        return OK
    if isinstance(ack, dict) and ack.get("ok") is False and isinstance(ack.get("error"), str):
        return str(ack["error"])
    return f"malformed ack {ack!r}"


# --- the world the requests point at -------------------------------------------------------------
@dataclasses.dataclass
class World:
    """One signed-in persona of each kind and one object of each kind a URL names, owned by or
    addressed to those personas so that every request can reach its view."""

    people: dict[str, User]
    values: dict[str, Any]  # URL argument name -> a real value
    message_id: int  # a message of the MSL in the HCP's conversation (edit, delete)

    @property
    def conversation_id(self) -> int:
        return int(self.values["conversation_id"])


def build_world() -> World:
    territory = make_territory()
    product = make_product()
    hcp = make_hcp(territory=territory)
    people: dict[str, User] = {
        HCP: hcp,
        HCP_PENDING: make_hcp(verification=Verification.PENDING, territory=territory),
    }
    for role in Role:
        if role is not Role.HCP:
            people[role.value] = make_user(role, territories=[territory], products=[product])
    msl, rep = people[Role.MSL.value], people[Role.REP.value]
    pv, admin = people[Role.PHARMACOVIGILANCE.value], people[Role.ADMIN.value]

    question: Question = ask(hcp, product=product)
    conversation: Conversation = active_conversation(hcp, msl)
    send(hcp, conversation, "Hello, a question about the titration.")
    message = send(msl, conversation, "Happy to help.")
    invitation = chat_consent.invite(rep, hcp.id)
    material: Material = make_material(
        people[Role.CONTENT_MANAGER.value],
        product=product,
        upload=Upload(io.BytesIO(PDF), "dosing guide.pdf"),
    )
    case: PvCase = open_case(reporter=hcp)
    follow_up = follow_ups.ask_follow_up(pv, case.id, "Which batch was it?")
    notification = db.session.scalar(
        select(Notification).where(Notification.user_id == hcp.id).order_by(Notification.id)
    )
    assert notification is not None, "the follow-up should have told the HCP"
    routing_settings.ensure_default_rules()
    rule = db.session.scalar(select(RoutingRule).order_by(RoutingRule.id))
    assert rule is not None
    phrase = chat_phrases.add_restricted_phrase(admin, "guaranteed cure")
    api_token, _secret = api_tokens.create_token(admin, name="CRM", scopes=["read:commercial"])
    # A CRM's webhook subscription with one delivery waiting (sending it again is refused).
    webhook = WebhookSubscription(
        name="CRM", url="https://crm.example.com/hook", events="material.withdrawn",
        scopes="read:commercial", secret="whsec_matrix", active=True,
    )  # fmt: skip
    db.session.add(webhook)
    db.session.flush()
    delivery = WebhookDelivery(
        subscription_id=webhook.id, event_id="00000000-0000-0000-0000-000000000001",
        event_type=WebhookEvent.PING, payload={},
    )  # fmt: skip
    db.session.add(delivery)
    db.session.commit()
    applicant = make_hcp(verification=Verification.PENDING)
    # A second sign-in of the HCP's, on another device: the session a "sign out" button names.
    other_device = sessions.start(hcp, ip="192.0.2.7", user_agent="Matrix/1.0 (other device)")
    # The rep's note of a visit the HCP asked for, with a follow-up only the rep may complete.
    note = call_notes.record(
        rep,
        hcp.id,
        call_notes.CallNoteInput(
            kind="visit", occurred_at=utcnow(), requested_by_hcp=True,
            summary="Went through the titration guide.", follow_up="Send the study.",
        ),
        attestation=Attestation(adverse_event=False),
    )  # fmt: skip
    # Outreach: the MSL shared the material with the HCP five days ago (the rule's gap kept from
    # the rep's invitation today); the HCP asked the MSL for a meeting, which the MSL accepted.
    share = outreach.share_material(msl, hcp.id, material.id, now=utcnow() - dt.timedelta(days=5))
    meeting = outreach.request_meeting(
        hcp,
        outreach.MeetingInput(
            mode="phone", slots=[utcnow() + dt.timedelta(days=3)], staff_id=msl.id
        ),
    )
    outreach.accept_meeting(msl, meeting.id, slot=meeting.slots[0])
    # A finished supervisory export of today (portal/records): its page and its download.
    today = utcnow().date()
    supervisory = records_export.request_export(
        people[Role.COMPLIANCE.value], records_export.ExportFilters(since=today, until=today)
    )
    records_export.run_export(supervisory.id)
    values = {
        "question_id": question.id,
        "share_id": share.id,
        "meeting_id": meeting.id,
        "note_id": note.id,
        "hcp_id": hcp.id,  # the HCP of the territory every territory role covers
        "conversation_id": conversation.id,
        "seq": 1,
        "invitation_id": invitation.id,
        "material_id": material.id,
        "family_id": material.family_id,
        "product_id": product.id,
        "rule_id": rule.id,
        "phrase_id": phrase.id,
        "subscription_id": webhook.id,
        "delivery_id": delivery.id,
        "token_id": api_token.id,
        "case_id": case.id,
        "follow_up_id": follow_up.id,
        "notification_id": notification.id,
        "user_id": applicant.id,
        "token": "not-a-valid-token",
        "session_id": sessions.hash_token(other_device),
        "run_id": supervisory.id,
        "dashboard": "content",  # /insights/<dashboard>
        "panel": "weekly",  # /insights/<dashboard>/<panel>.csv
    }
    return World(people=people, values=values, message_id=int(message["id"]))


def signed_in_client(app: Flask, world: World, persona: str) -> FlaskClient:
    # Each request in an app context of its own, as in production (see tests/conftest.py).
    app.test_client_class = IsolatedClient
    client = app.test_client()
    if persona != ANONYMOUS:
        response = login(client, world.people[persona].email)
        assert outcome(response) == REDIRECT, f"{persona} could not sign in: {response.status}"
    return client


class Socket:
    """A ``/chat`` connection with a client's cookies; each emit in an app context of its own."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        with app.app_context():
            self.io = socketio.test_client(app, namespace=NAMESPACE, flask_test_client=client)

    @property
    def connected(self) -> bool:
        return bool(self.io.is_connected(NAMESPACE))

    def emit(self, event: str, *args: Any) -> Any:
        with self.app.app_context():
            ack = self.io.emit(event, *args, namespace=NAMESPACE, callback=True)
        db.session.expire_all()
        return ack

    def close(self) -> None:
        if self.connected:
            with self.app.app_context():
                self.io.disconnect(namespace=NAMESPACE)


EVENT_NAMES = (
    "conversations",
    "join",
    "history",
    "typing",
    "read",
    "delivered",
    "send",
    "edit",
    "leave",
    "delete",
)


def event_payloads(world: World) -> dict[str, dict[str, Any]]:
    """A well-formed payload of each event, about the HCP's conversation with the MSL; the
    order is the order they are sent in (delete last: it ends the message edit needs)."""
    conversation_id = world.conversation_id
    payloads: dict[str, dict[str, Any]] = {
        "conversations": {},
        "join": {"conversation_id": conversation_id, "after_seq": 0},
        "history": {"conversation_id": conversation_id, "before_seq": 3},
        "typing": {"conversation_id": conversation_id},
        "read": {"conversation_id": conversation_id, "seq": 1},
        "delivered": {"conversation_id": conversation_id, "seq": 1},
        "send": {
            "conversation_id": conversation_id,
            "client_id": str(uuid.uuid4()),
            "body": "Thank you.",
        },
        "edit": {"message_id": world.message_id, "body": "Happy to help, any time."},
        "leave": {"conversation_id": conversation_id},
        "delete": {"message_id": world.message_id},
    }
    assert tuple(payloads) == EVENT_NAMES
    return payloads


# --- asking the app ------------------------------------------------------------------------------
def observe_http(
    app: Flask, world: World, persona: str, ends_session: frozenset[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """``persona``'s answer to every route with real ids, and to every route taking ids with a
    missing id: ``({key: outcome}, {key: outcome})``. GETs go first, then POSTs (an empty form:
    the matrix asks who reaches a view, the corpus what the view does with the input). After a
    route in ``ends_session`` the persona signs in again."""
    client = signed_in_client(app, world, persona)
    found: dict[str, str] = {}
    missing: dict[str, str] = {}
    ordered = sorted(routes(app), key=_request_order)
    for route in ordered:
        for ids, into in ((None, found), (MISSING_ID, missing)):
            if ids is not None and not route.takes_ids:
                continue
            url = fill(route, world.values, ids=ids)
            response = client.open(url, method=route.method, data={})
            into[route.key] = outcome(response, client)
            if route.endpoint in ends_session and persona != ANONYMOUS:
                client = signed_in_client(app, world, persona)
    return found, missing


def _request_order(route: Route) -> tuple[bool, bool, str]:
    # Reads first, then writes; deletions last, so that a successful one does not turn the
    # answers to the routes after it into "not found".
    destructive = route.rule.endswith(("/delete", "/remove"))
    return (route.method != "GET", destructive, route.rule)


def observe_socket(app: Flask, world: World, persona: str) -> dict[str, str]:
    """``persona``'s acknowledgement of every ``/chat`` event with a well-formed payload, or
    ``no_connection`` for every event when the connection itself is refused."""
    payloads = event_payloads(world)
    events = socket_events()
    socket = Socket(app, signed_in_client(app, world, persona))
    try:
        if not socket.connected:
            return {event: NO_CONNECTION for event in events}
        ordered = [e for e in payloads if e in events] + [e for e in events if e not in payloads]
        return {
            event: ack_outcome(socket.emit(event, payloads.get(event, {}))) for event in ordered
        }
    finally:
        socket.close()
