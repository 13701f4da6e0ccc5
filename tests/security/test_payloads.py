"""The hostile-input corpus (:mod:`tests.security.payloads`) through every form, every page's
query string, every id in a path and every ``/chat`` event, by the personas who may use them.

What must hold for every request: no server error (status < 500), no traceback in any page,
nothing echoed or stored as markup (``<script>`` never appears raw in a page, whoever reads it
later), and every socket event answered ``ok`` or with an error code, the connection kept.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.security import expected_access as expected
from tests.security import matrix, payloads
from tests.security.matrix import Route, World

# Who posts the forms: every persona who has forms of their own. The readers sweep every page
# afterwards, so what one persona stored is read by those who see it.
FORM_PERSONAS = [
    matrix.ANONYMOUS,
    matrix.HCP,
    "msl",
    "medical_information",
    "pharmacovigilance",
    "content_manager",
    "admin",
]
# What the HCP writes is read by the medical teams; everything is read by compliance.
READERS = {matrix.HCP: ["msl", "medical_information", "pharmacovigilance"]}
UNREACHED = {matrix.LOGIN, matrix.NOT_FOUND, matrix.FORBIDDEN}
SOCKET_ERRORS = {
    "invalid",
    "not_found",
    "forbidden",
    "consent_required",
    "too_long",
    "restricted",
    "rate_limited",
}
QUERIES = [
    "q=%3Cscript%3Ealert(1)%3C%2Fscript%3E&page=9223372036854775808&status=%ED%A0%80",
    "page=-1&per_page=1000000000000000000000000000000&sort=..%2F..%2Fetc&q=%27%20OR%201%3D1--",
    "after=1e309&before=NaN&status[]=a&q=%FF%FE",
]


def _text(response: TestResponse) -> str:
    # Pictures, videos and files carry no page to read (a thumbnail is a PNG).
    if response.mimetype.startswith(("text/", "application/json")):
        return response.get_data(as_text=True)
    return ""


def _problems(response: TestResponse, what: str) -> list[str]:
    text = _text(response)
    found = []
    if response.status_code >= 500:
        found.append(f"{what}: status {response.status_code}")
    if "Traceback (most recent call last)" in text:
        found.append(f"{what}: a traceback in the page")
    # A download (an attachment: a CSV of records, never sniffed thanks to
    # X-Content-Type-Options) carries the records' text as it was written; pages must not.
    if "attachment" not in response.headers.get("Content-Disposition", ""):
        found += [
            f"{what}: raw markup {p[:30]!r} in the page" for p in payloads.MARKUP if p in text
        ]
    return found


def _reachable(persona: str, route: Route) -> bool:
    decision = expected.ROUTES.get(route.key)
    return decision is not None and decision[persona] not in UNREACHED


def _get_routes(app: Flask) -> list[Route]:
    return [r for r in matrix.routes(app) if r.method == "GET"]


def _sweep(app: Flask, world: World, persona: str, *, queries: bool = False) -> list[str]:
    """Every page ``persona`` may open, read for markup and traces (with hostile queries)."""
    client = matrix.signed_in_client(app, world, persona)
    found: list[str] = []
    for route in _get_routes(app):
        if not _reachable(persona, route) or route.endpoint in expected.ENDS_SESSION:
            continue
        url = matrix.fill(route, world.values)
        for query in ["", *(QUERIES if queries else [])]:
            response = client.get(url, query_string=query)
            found += _problems(response, f"GET {url}?{query} as {persona}")
            # As a server does when a client stops reading: a streamed download left unread
            # (a ZIP) ends its generator and the context it holds.
            response.close()
    return found


def _forms(app: Flask, world: World, persona: str, client: FlaskClient) -> dict[str, list[str]]:
    """The POST forms ``persona`` is shown ({path: fields}), plus every POST route they may use
    that no page of theirs shows a form for (posted with the field names forms commonly use)."""
    found: dict[str, list[str]] = {}
    for route in _get_routes(app):
        if _reachable(persona, route):
            url = matrix.fill(route, world.values)
            for action, fields in payloads.forms_of(url, _text(client.get(url))).items():
                found.setdefault(action, [])
                found[action] += [f for f in fields if f not in found[action]]
    for route in matrix.routes(app):
        if route.method == "POST" and _reachable(persona, route):
            found.setdefault(matrix.fill(route, world.values), ["text", "body", "reason", "note"])
    posts = {matrix.fill(r, world.values) for r in matrix.routes(app) if r.method == "POST"}
    ends = {
        matrix.fill(r, world.values)
        for r in matrix.routes(app)
        if r.endpoint in expected.ENDS_SESSION
    }
    return {action: fields for action, fields in found.items() if action in posts - ends}


@pytest.mark.parametrize("persona", FORM_PERSONAS)
def test_every_form_takes_the_corpus_without_error_trace_or_markup(app, backend, persona):
    corpus = payloads.TEXT_PAYLOADS if backend == "sqlite" else payloads.ENGINE_SENSITIVE
    world = matrix.build_world()
    client = matrix.signed_in_client(app, world, persona)
    forms = _forms(app, world, persona, client)
    assert forms, f"{persona} should have forms to post"

    problems: list[str] = []
    for action, fields in sorted(forms.items()):
        for payload in corpus:
            response = client.post(
                action,
                data=payloads.form_body(fields, payload),
                content_type="application/x-www-form-urlencoded",
            )
            problems += _problems(response, f"POST {action} {payload[:20]!r} as {persona}")
        for body in payloads.RAW_BODIES:
            response = client.post(
                action, data=body, content_type="application/x-www-form-urlencoded"
            )
            problems += _problems(response, f"POST {action} raw {body[:20]!r} as {persona}")
        response = client.post(action, json={field: [1, {"a": 2}] for field in fields})
        problems += _problems(response, f"POST {action} JSON lists as {persona}")

    for reader in sorted({persona, "compliance", *READERS.get(persona, [])} - {matrix.ANONYMOUS}):
        problems += _sweep(app, world, reader)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("persona", [matrix.HCP, "medical_information", "compliance", "admin"])
def test_hostile_query_strings_leave_every_page_standing(app, persona):
    world = matrix.build_world()

    problems = _sweep(app, world, persona, queries=True)

    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("huge", payloads.HUGE_IDS)
def test_an_id_beyond_what_the_database_stores_is_not_found(app, huge):
    """Ids outside 1..2^63-1 cannot name anything: 404 on every route, before any view runs
    (they used to overflow SQLite: a 500)."""
    world = matrix.build_world()
    wrong: list[str] = []
    for persona in (matrix.HCP, "pharmacovigilance", "admin"):
        client = matrix.signed_in_client(app, world, persona)
        for route in matrix.routes(app):
            if not route.takes_ids or route.endpoint in expected.ENDS_SESSION:
                continue
            url = matrix.fill(route, world.values, ids=huge)
            response = client.open(url, method=route.method, data={})
            answer = matrix.outcome(response, client)
            if answer != matrix.NOT_FOUND:
                wrong.append(f"{route.method} {url} as {persona}: {answer}")
    assert not wrong, "\n".join(wrong)


def _variants(payload: dict[str, Any]) -> list[Any]:
    """The payload with each field replaced by each hostile value, and payloads of wrong shapes."""
    found: list[Any] = [None, [], "conversation", 7, [payload]]
    for field in payload:
        for value in payloads.SOCKET_VALUES:
            variant = copy.deepcopy(payload)
            variant[field] = value
            found.append(variant)
    return found


@pytest.mark.parametrize("persona", [matrix.HCP, "msl"])
def test_every_socket_event_answers_the_corpus_with_an_error_code(app, persona):
    world = matrix.build_world()
    socket = matrix.Socket(app, matrix.signed_in_client(app, world, persona))
    wrong: list[str] = []
    try:
        assert socket.connected
        for event, payload in matrix.event_payloads(world).items():
            for variant in _variants(payload):
                shown = repr(variant)[:80]
                ack = socket.emit(event, variant)
                answer = matrix.ack_outcome(ack)
                if answer != matrix.OK and answer not in SOCKET_ERRORS:
                    wrong.append(f"{event} {shown}: {answer}")
                if not socket.connected:
                    wrong.append(f"{event} {shown}: the connection was closed")
                    socket = matrix.Socket(app, matrix.signed_in_client(app, world, persona))
    finally:
        socket.close()
    assert not wrong, "\n".join(wrong)
