"""Every refusal under /api/v1 is an RFC 9457 problem document; pages outside keep their HTML."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.views import MethodView
from flask_smorest import Blueprint

from portal.api import tokens
from portal.api.auth import require_scope
from portal.api.models import ApiScope
from portal.api.problems import BY_STATUS, TYPE_BASE
from portal.api.schemas import CursorQuerySchema
from portal.errors import Conflict

PROBLEM = "application/problem+json"


def add_test_routes(app: Flask) -> None:
    """Routes under /api/v1 that refuse in each way a resource may (registered on the real API,
    so the real hook, argument parser and error handlers answer)."""
    blueprint = Blueprint("problem_probe", __name__)

    @blueprint.route("/probe")
    class Probe(MethodView):
        @blueprint.arguments(CursorQuerySchema, location="query")
        @blueprint.response(200)
        def get(self, args: dict[str, Any]) -> dict[str, Any]:
            return {"limit": args["limit"]}

    @blueprint.route("/probe-pv")
    def probe_pv() -> dict[str, str]:
        require_scope(ApiScope.READ_PV)
        return {}

    @blueprint.route("/probe-conflict", methods=["POST"])
    def probe_conflict() -> dict[str, str]:
        raise Conflict("That interaction is already recorded.")

    @blueprint.route("/probe-crash")
    def probe_crash() -> dict[str, str]:
        raise RuntimeError("secret internals")

    app.extensions["portal_api"].register_blueprint(blueprint, url_prefix="/api/v1")


@pytest.fixture
def secret(app: Flask) -> str:
    add_test_routes(app)
    _token, value = tokens.create_token(None, name="CRM", scopes=["read:commercial"])
    return value


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.json
    assert body["type"] == TYPE_BASE + slug
    assert body["status"] == status
    assert body["title"] == dict(BY_STATUS.values())[slug]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.mark.parametrize(
    ("method", "path", "auth", "status", "slug"),
    [
        ("GET", "/api/v1/me", False, 401, "unauthenticated"),
        ("GET", "/api/v1/probe-pv", True, 403, "insufficient-scope"),
        ("GET", "/api/v1/no-such-resource", True, 404, "not-found"),
        ("GET", "/api/v1", True, 404, "not-found"),
        ("POST", "/api/v1/me", True, 405, "method-not-allowed"),
        ("GET", "/api/v1/probe?limit=0", True, 422, "invalid-input"),
        ("GET", "/api/v1/probe?limit=many", True, 422, "invalid-input"),
        ("POST", "/api/v1/probe-conflict", True, 409, "conflict"),
        ("GET", "/api/v1/probe-crash", True, 500, "server-error"),
    ],
)
def test_every_error_under_the_api_is_a_problem_document(
    app, client, secret, method, path, auth, status, slug
):
    headers = {"Authorization": f"Bearer {secret}"} if auth else {}

    response = client.open(path, method=method, headers=headers)

    body = assert_problem(response, status, slug)
    assert body["instance"] == path.split("?")[0]
    assert "Traceback" not in response.text and "secret internals" not in response.text


def test_invalid_query_names_each_bad_field(app, client, secret):
    response = client.get("/api/v1/probe?limit=0", headers={"Authorization": f"Bearer {secret}"})

    body = assert_problem(response, 422, "invalid-input")
    assert set(body["errors"]) == {"query"}
    assert set(body["errors"]["query"]) == {"limit"}


def test_a_valid_query_passes_the_same_route(app, client, secret):
    response = client.get("/api/v1/probe?limit=7", headers={"Authorization": f"Bearer {secret}"})

    assert response.status_code == 200 and response.json == {"limit": 7}


def test_a_problem_does_not_depend_on_what_the_client_accepts(app, client, secret):
    response = client.get(
        "/api/v1/no-such-resource",
        headers={"Authorization": f"Bearer {secret}", "Accept": "text/html"},
    )

    assert_problem(response, 404, "not-found")


def test_a_page_outside_the_api_still_renders_html_errors(app, client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "<html" in response.text


def test_the_reference_page_and_the_document_are_public_and_not_problems(app, client):
    page = client.get("/api/v1/docs")
    document = client.get("/api/v1/openapi.json")

    assert page.status_code == 200 and page.mimetype == "text/html"
    assert 'id="api-reference" data-spec-url="/api/v1/openapi.json"' in page.text
    assert "vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    assert "js/api-docs.js" in page.text
    assert "<script>" not in page.text  # no inline script (CSP)
    assert document.status_code == 200 and document.json["openapi"] == "3.1.0"
