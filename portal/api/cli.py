"""``flask api token ...``: integration tokens from the command line.

- ``flask api token create --name NAME --scope SCOPE [--scope SCOPE ...]`` prints exactly one JSON
  object ``{"id": int, "token": str}``; the token is shown this once.
- ``flask api token revoke ID`` prints ``{"id": int, "revoked_at": str}``.
- ``flask api token list`` prints ``{"tokens": [{"id", "name", "prefix", "scopes", "created_at",
  "last_used_at", "revoked_at"}]}`` (never a secret).
Errors print ``{"error": message}`` and exit 1.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click
from flask import Flask
from flask.cli import AppGroup

from portal.api import tokens
from portal.api.models import ApiScope
from portal.errors import PortalError

api_cli = AppGroup("api", help="The integration API.")
token_cli = AppGroup("token", help="API tokens: create, revoke, list.")
api_cli.add_command(token_cli)


def _fail(message: str) -> NoReturn:
    click.echo(json.dumps({"error": message}))
    sys.exit(1)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@token_cli.command("create")
@click.option("--name", required=True, help="The client that will use the token.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice([scope.value for scope in ApiScope]),
    help="Repeat for several scopes.",
)
def create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a token; prints {"id", "token"} (the token is shown this once)."""
    try:
        token, secret = tokens.create_token(None, name=name, scopes=scopes)
    except PortalError as exc:
        _fail(exc.message)
    click.echo(json.dumps({"id": token.id, "token": secret}))


@token_cli.command("revoke")
@click.argument("token_id", type=int)
def revoke(token_id: int) -> None:
    """Revoke a token: it authenticates nothing from now on."""
    try:
        token = tokens.revoke_token(None, token_id)
    except PortalError as exc:
        _fail(exc.message)
    click.echo(json.dumps({"id": token.id, "revoked_at": _iso(token.revoked_at)}))


@token_cli.command("list")
def list_() -> None:
    """Every token (never its secret)."""
    rows = [
        {
            "id": token.id,
            "name": token.name,
            "prefix": token.prefix,
            "scopes": sorted(token.scope_set),
            "created_at": _iso(token.created_at),
            "last_used_at": _iso(token.last_used_at),
            "revoked_at": _iso(token.revoked_at),
        }
        for token in tokens.list_tokens(None)
    ]
    click.echo(json.dumps({"tokens": rows}))


def init_app(app: Flask) -> None:
    app.cli.add_command(api_cli)
