"""The served OpenAPI document is the contract: schemathesis generates requests for every
operation it lists and checks what the portal really answers.

Against a seeded database (HCPs, published materials, questions, a PV case, call notes) with a
token holding every scope, so the responses carry records and their schemas are exercised:

- valid requests (positive generation): no server error, every response conforms to its
  documented schema, content type and status code;
- invalid requests (negative generation): no server error (a refusal is a 4xx problem).

Bounded (``MAX_EXAMPLES`` per operation, derandomized so a run is repeatable) to stay well under
a minute on each backend.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from portal.accounts import call_notes
from portal.api import tokens
from portal.api.models import ApiScope
from portal.models import Role, utcnow
from portal.safety.attestations import Attestation
from tests.content.factories import make_material
from tests.factories import make_hcp, make_product, make_territory, make_user
from tests.portal.questions.factories import ask
from tests.portal.safety.factories import open_case

MAX_EXAMPLES = 20
KNOWN_ID_EXAMPLES = 5
NEGATIVE_EXAMPLES = 10
BUDGET_SECONDS = 60
POSITIVE_CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    status_code_conformance,
]


def seed() -> tuple[str, dict[str, int]]:
    """A few of every record the API reads; the secret of a token holding every scope, and an
    existing id for each path parameter (random ids find nothing: these reach the records)."""
    territory = make_territory()
    product = make_product()
    rep = make_user(Role.REP, territories=[territory], products=[product])
    hcps = [make_hcp(territory=territory) for _ in range(3)]
    questions = [
        ask(hcp, product=product, text=f"Dose question number {index} about renal impairment?")
        for index, hcp in enumerate(hcps)
    ]
    ask(hcps[0], category="samples", text="Could you send samples of the 10 mg pack?")
    materials = [make_material(product=product) for _ in range(2)]
    case = open_case(reporter=hcps[1])
    call_notes.record(
        rep,
        hcps[2].id,
        call_notes.CallNoteInput(
            kind="visit",
            occurred_at=utcnow() - dt.timedelta(hours=2),
            summary="Discussed the titration guide.",
        ),
        attestation=Attestation(adverse_event=False),
    )
    _token, secret = tokens.create_token(
        None, name="Conformance", scopes=[scope.value for scope in ApiScope]
    )
    ids = {
        "hcp_id": hcps[2].id,
        "material_id": materials[0].id,
        "question_id": questions[0].id,
        "case_id": case.id,
    }
    return secret, ids


def isolated(app: Flask) -> Callable[..., Iterable[bytes]]:
    """The app as a WSGI callable whose every request runs in an app context (and database
    session) of its own, as in production: the test's own context is not shared."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with app.app_context():
            return list(app(environ, start_response))

    return wsgi


def run_operations(
    app: Flask,
    *,
    mode: GenerationMode,
    examples: int,
    checks: list[Any],
    secret: str,
    ids: dict[str, int] | None = None,
) -> list[str]:
    """Run every operation of the served document; the labels of those run. With ``ids``, the
    operations taking path parameters run again with those ids (``KNOWN_ID_EXAMPLES``)."""
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", isolated(app))
    headers = {"Authorization": f"Bearer {secret}"}
    labels = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        strategies = [(operation.as_strategy(generation_mode=mode), examples)]
        names = [parameter.name for parameter in operation.path_parameters]
        if ids is not None and names:
            known = {name: ids[name] for name in names}
            strategies.append(
                (
                    operation.as_strategy(generation_mode=mode, path_parameters=known),
                    KNOWN_ID_EXAMPLES,
                )
            )
        for strategy, count in strategies:
            _run(strategy, count, headers=headers, checks=checks)
    return labels


def _run(strategy: Any, examples: int, *, headers: dict[str, str], checks: list[Any]) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=checks)

    check()


def test_every_operation_answers_as_documented(app):
    secret, ids = seed()
    started = time.monotonic()

    labels = run_operations(
        app,
        mode=GenerationMode.POSITIVE,
        examples=MAX_EXAMPLES,
        checks=POSITIVE_CHECKS,
        secret=secret,
        ids=ids,
    )

    assert "GET /api/v1/me" in labels
    assert time.monotonic() - started < BUDGET_SECONDS, "bound the examples: the suite is long"


def test_invalid_requests_never_cause_a_server_error(app):
    secret, _ids = seed()

    labels = run_operations(
        app,
        mode=GenerationMode.NEGATIVE,
        examples=NEGATIVE_EXAMPLES,
        checks=[not_a_server_error],
        secret=secret,
    )

    assert labels


@pytest.mark.parametrize("path", ["/api/v1/openapi.json"])
def test_the_served_document_is_valid_openapi_3_1(app, client, path):
    document = client.get(path).json

    schema = schemathesis.openapi.from_dict(document)
    schema.validate()

    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
