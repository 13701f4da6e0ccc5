"""API tokens: create, revoke, authenticate, and the record of each use.

Who may: administrators create and revoke (``policy.can_manage_api_tokens``); the CLI acts as the
system. Audit: ``api_token.created``, ``api_token.revoked``, and ``api.request`` for every use
(method, path, status), in the same transaction as the token's ``last_used_at``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal import audit, policy
from portal.api.models import ApiScope, ApiToken
from portal.errors import InvalidInput, NotFound
from portal.extensions import db
from portal.models import User, utcnow
from portal.pagination import Page, paginate
from portal.unit_of_work import unit_of_work

TOKEN_PREFIX = "hcpp_"  # noqa: S105 - the visible prefix of every token, not a secret
NAME_MAX = 100


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def parse_scopes(values: Iterable[str]) -> frozenset[ApiScope]:
    """The scopes named by ``values`` (strings); :class:`InvalidInput` names an unknown one."""
    chosen: set[ApiScope] = set()
    for value in values:
        value = value.strip()
        if not value:
            continue
        try:
            chosen.add(ApiScope(value))
        except ValueError:
            known = ", ".join(scope.value for scope in ApiScope)
            raise InvalidInput(f"Unknown scope {value!r}: use {known}.", field="scopes") from None
    if not chosen:
        raise InvalidInput("Choose at least one scope.", field="scopes")
    return frozenset(chosen)


def create_token(actor: User | None, *, name: str, scopes: Iterable[str]) -> tuple[ApiToken, str]:
    """Create a token named ``name`` with ``scopes``; return it and its secret, which is shown
    this once and never stored. ``actor`` None is the command line. Raises
    :class:`PermissionDenied` for anyone but an administrator, :class:`InvalidInput` for an
    empty or over-long name or an unknown scope. Audits ``api_token.created``."""
    if actor is not None:
        policy.require(policy.can_manage_api_tokens(actor))
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("Give the token a name (the client that will use it).", field="name")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"Use at most {NAME_MAX} characters for the name.", field="name")
    chosen = parse_scopes(scopes)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with unit_of_work():
        token = ApiToken(
            name=name,
            prefix=secret[: len(TOKEN_PREFIX) + 6],
            token_hash=hash_token(secret),
            scopes=" ".join(sorted(scope.value for scope in chosen)),
            created_by_id=actor.id if actor is not None else None,
            created_at=utcnow(),
        )
        db.session.add(token)
        db.session.flush()
        audit.record(actor, "api_token.created", token, name=name, scopes=sorted(chosen))
    return token, secret


def revoke_token(actor: User | None, token_id: int) -> ApiToken:
    """Revoke the token: from now on it authenticates nothing. Revoking a revoked token changes
    nothing. Raises :class:`NotFound` for an unknown id, :class:`PermissionDenied` for anyone but
    an administrator. Audits ``api_token.revoked``."""
    if actor is not None:
        policy.require(policy.can_manage_api_tokens(actor))
    with unit_of_work():
        token = db.session.get(ApiToken, token_id, with_for_update=True)
        if token is None:
            raise NotFound("No such API token.")
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            token.revoked_by_id = actor.id if actor is not None else None
            audit.record(actor, "api_token.revoked", token, name=token.name)
    return token


def list_tokens(actor: User | None) -> Sequence[ApiToken]:
    """Every token, newest first (administrators and compliance, read-only; the CLI)."""
    if actor is not None:
        policy.require(policy.can_view_api_tokens(actor))
    return db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc())).all()


def token_page(actor: User, *, page: int, page_size: int = 50) -> Page[ApiToken]:
    """One page of the tokens, newest first, with their creators (the tokens page). Raises
    :class:`PermissionDenied` for anyone but administrators and compliance."""
    policy.require(policy.can_view_api_tokens(actor))
    query = select(ApiToken).options(selectinload(ApiToken.created_by)).order_by(ApiToken.id.desc())
    return paginate(query, page=page, page_size=page_size)


def find_by_secret(secret: str) -> ApiToken | None:
    """The active token whose secret is ``secret``, or None (unknown or revoked)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(secret)))
    if token is None or token.revoked_at is not None:
        return None
    return token


def record_use(token_id: int, *, method: str, path: str, status: int) -> None:
    """Note one use of the token (its ``last_used_at``) and audit it as ``api.request``."""
    with unit_of_work():
        token = db.session.get(ApiToken, token_id)
        if token is None:
            return
        token.last_used_at = utcnow()
        audit.record(
            None, "api.request", token, token=token.name, method=method, path=path, status=status
        )
