"""``flask privacy ...``: data-rights requests answered from the command line (a data
protection officer answering a request made by letter or e-mail).

- ``flask privacy export --email E --out FILE`` writes everything the portal holds about the HCP
  (the same JSON document as their own download) and prints ``{"file": str, "bytes": int}``;
- ``flask privacy erase --email E --reason TEXT`` erases the HCP and prints ``{"user_id": int,
  "pseudonym": str, "kept": {kind: n}, "removed": {kind: n}}``.

Refusals print ``{"error": message}`` and exit 2: no such HCP (staff are never erased or exported
here), an account erased already, a person under a legal hold (the request is kept pending and
listed for administrators), a missing reason.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NoReturn

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from portal.errors import PortalError
from portal.extensions import db
from portal.models import User
from portal.privacy import collect, erase

privacy_cli = AppGroup("privacy", help="Data rights: an HCP's data, and their erasure.")


def _fail(message: str) -> NoReturn:
    click.echo(json.dumps({"error": message}))
    sys.exit(2)


def _hcp(email: str) -> User:
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None or not user.is_hcp:
        _fail(f"No HCP has the e-mail address {email!r}.")
    return user


@privacy_cli.command("export")
@click.option("--email", required=True, help="The HCP's e-mail address.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def export(email: str, out: Path) -> None:
    """Write everything the portal holds about an HCP to FILE (JSON)."""
    user = _hcp(email)
    try:
        download = collect.download(None, user, form="cli")
    except PortalError as exc:
        _fail(exc.message)
    data = download.json_bytes()
    out.write_bytes(data)
    click.echo(json.dumps({"file": str(out), "bytes": len(data)}))


@privacy_cli.command("erase")
@click.option("--email", required=True, help="The HCP's e-mail address.")
@click.option("--reason", required=True, help="Why (kept in the audit trail; no personal data).")
def erase_(email: str, reason: str) -> None:
    """Erase an HCP (refused under a legal hold: the request waits)."""
    user = _hcp(email)
    try:
        done = erase.erase_person(None, user, reason=reason)
    except PortalError as exc:
        _fail(exc.message)
    if done.held:
        _fail("This person is under a legal hold: nothing was erased; the request is kept pending.")
    click.echo(
        json.dumps(
            {
                "user_id": user.id,
                "pseudonym": done.pseudonym,
                "kept": done.kept,
                "removed": done.removed,
            }
        )
    )
