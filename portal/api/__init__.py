"""The integration API, ``/api/v1``: what a CRM or a data warehouse reads and writes.

Built with flask-smorest (marshmallow schemas; the OpenAPI 3.1 document is generated from the
views and schemas, served at ``/api/v1/openapi.json``, rendered at ``/api/v1/docs`` from our own
static files). Every request carries an API token (:mod:`portal.api.auth`); every refusal is a
problem document (:mod:`portal.api.problems`). Resources live in ``portal/api/resources/``, each a
flask-smorest blueprint registered by :func:`init_app`; their rules are the services' and
``portal.policy``'s, as for the pages. Contract: ``docs/api.md``.
"""

from __future__ import annotations

import http
from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response

from portal.api.problems import API_PREFIX, MEDIA_TYPE
from portal.api.schemas import ProblemSchema

SECURITY_SCHEME = "bearerAuth"


class PortalApi(Api):
    """flask-smorest's Api, with our errors: it registers no error handler of its own (the
    portal translates errors once, ``portal/errors_http.py``), and documents every refusal as a
    problem+json document."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        return None

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
                prepare_response(response, self.spec, MEDIA_TYPE)
            else:
                prepare_response(response, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "A problem document (RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, MEDIA_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def blueprints() -> list[tuple[Blueprint, str]]:
    """Every resource's blueprint and where it is mounted."""
    from portal.api.resources import all_blueprints

    return all_blueprints()


def init_app(app: Flask) -> None:
    from portal.api import auth, cli
    from portal.extensions import csrf

    app.config.setdefault("API_TITLE", "HCP portal integration API")
    app.config.setdefault("API_VERSION", "1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", API_PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = PortalApi(
        app,
        spec_kwargs={
            "marshmallow_plugin": MarshmallowPlugin(),
            "security": [{SECURITY_SCHEME: []}],
            "info": {
                "description": (
                    "Read the portal's records and record interactions from a CRM or a data "
                    "warehouse. Authenticate with `Authorization: Bearer <token>`; errors are "
                    "`application/problem+json` (RFC 9457)."
                )
            },
        },
    )
    api.spec.components.security_scheme(
        SECURITY_SCHEME, {"type": "http", "scheme": "bearer", "description": "An API token"}
    )
    for blueprint, prefix in blueprints():
        csrf.exempt(blueprint)
        api.register_blueprint(blueprint, url_prefix=API_PREFIX + prefix)
    app.extensions["portal_api"] = api
    auth.init_app(app)
    cli.init_app(app)
    # The administrators' tokens page and the rendered reference (pages, not the API).
    from portal.api import views

    app.register_blueprint(views.blueprint, url_prefix="/admin")
    app.register_blueprint(views.reference)
