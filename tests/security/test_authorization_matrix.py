"""The authorization matrix: every route of the URL map and every ``/chat`` event, asked by every
persona (each staff role, a verified and a pending HCP, the anonymous visitor), with real ids and
with an id that does not exist, answer what :mod:`tests.security.expected_access` decided.

Both databases run it: the answers go through SQL visibility clauses (the library, the queues,
search) that differ by engine, so PostgreSQL is not a copy of SQLite here. One app per persona
keeps each persona's own actions (closing a question, ending a chat) from changing what the
next persona sees.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from portal import create_app
from tests.conftest import base_config
from tests.security import expected_access as expected
from tests.security import matrix


@pytest.fixture(scope="module")
def bare_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The app's surface only (no database needed to read the URL map and the handlers)."""
    folder: Path = tmp_path_factory.mktemp("surface")
    return create_app(base_config(folder, SQLALCHEMY_DATABASE_URI="sqlite://"))


def test_every_route_has_an_authorization_decision(bare_app):
    undecided = [r.key for r in matrix.routes(bare_app) if r.key not in expected.ROUTES]

    assert not undecided, "\n".join(
        f"route {key} added without an authorization decision: add it to "
        "tests/security/expected_access.py (ROUTES)"
        for key in undecided
    )


def test_every_decision_names_a_route_that_exists(bare_app):
    existing = {r.key for r in matrix.routes(bare_app)}
    stale = [key for key in [*expected.ROUTES, *expected.MISSING_IDS] if key not in existing]

    assert not stale, "\n".join(
        f"decision for {key}, which the app no longer has: remove it from "
        "tests/security/expected_access.py"
        for key in stale
    )


def test_every_decision_about_missing_ids_names_a_route_taking_ids(bare_app):
    takes_ids = {r.key for r in matrix.routes(bare_app) if r.takes_ids}

    assert not [key for key in expected.MISSING_IDS if key not in takes_ids]


def test_every_socket_event_has_an_authorization_decision(bare_app):
    events = set(matrix.socket_events())

    assert not events - set(expected.SOCKET_EVENTS), "\n".join(
        f"event {name!r} added without an authorization decision: add it to "
        "tests/security/expected_access.py (SOCKET_EVENTS)"
        for name in sorted(events - set(expected.SOCKET_EVENTS))
    )
    assert not set(expected.SOCKET_EVENTS) - events, "decisions for events that no longer exist"
    assert not events - set(matrix.EVENT_NAMES), "add a payload to event_payloads()"


def test_every_decision_covers_every_persona():
    tables = [expected.ROUTES, expected.MISSING_IDS, expected.SOCKET_EVENTS]
    for key, decision in [item for table in tables for item in table.items()]:
        assert set(decision) == set(matrix.PERSONAS), key


@pytest.mark.parametrize("persona", matrix.PERSONAS)
def test_each_persona_gets_the_decided_answer_on_every_route_and_event(app, persona):
    world = matrix.build_world()

    # The socket first: the HTTP routes include ending the very chat the events talk about.
    sockets = matrix.observe_socket(app, world, persona)
    found, missing = matrix.observe_http(app, world, persona, expected.ENDS_SESSION)

    wrong = [
        f"event {event}: expected {expected.SOCKET_EVENTS[event][persona]}, got {answer}"
        for event, answer in sockets.items()
        if event in expected.SOCKET_EVENTS and answer != expected.SOCKET_EVENTS[event][persona]
    ]
    for key, answer in found.items():
        if key in expected.ROUTES and answer != expected.ROUTES[key][persona]:
            wrong.append(f"{key}: expected {expected.ROUTES[key][persona]}, got {answer}")
    for key, answer in missing.items():
        if key not in expected.ROUTES:
            continue  # reported by test_every_route_has_an_authorization_decision
        decided = expected.MISSING_IDS.get(key) or expected.decide(
            anonymous=expected.ROUTES[key][matrix.ANONYMOUS]
        )
        if answer != decided[persona]:
            wrong.append(f"{key} (no such id): expected {decided[persona]}, got {answer}")
    assert not wrong, f"as {persona}:\n" + "\n".join(wrong)
