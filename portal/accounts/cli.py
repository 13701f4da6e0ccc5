"""``flask contacts ...``: the contact rule on the command line.

``flask contacts check --from STAFF_EMAIL --to HCP_EMAIL --channel CHANNEL`` prints one JSON
object ``{"allowed", "reason", "used", "cap", "next_allowed_at"}`` and changes nothing:
compliance uses it to answer "why was this contact refused?". Exit status 0 whether the contact
is allowed or not; 1 (with ``{"error": ...}`` on standard output) for an unknown person.
"""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from portal.accounts import contact_rule
from portal.accounts.models import ContactChannel
from portal.extensions import db
from portal.models import User
from portal.models.reference import Role

contacts_cli = AppGroup("contacts", help="The contact rule: may a colleague contact an HCP now?")


def _user(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def _fail(message: str) -> None:
    click.echo(json.dumps({"error": message}))
    sys.exit(1)


@contacts_cli.command("check")
@click.option("--from", "staff_email", required=True, help="The staff member's e-mail.")
@click.option("--to", "hcp_email", required=True, help="The HCP's e-mail.")
@click.option("--channel", required=True, type=click.Choice([c.value for c in ContactChannel]))
def check(staff_email: str, hcp_email: str, channel: str) -> None:
    """Would an unsolicited contact from STAFF to HCP by CHANNEL be allowed now, and why?"""
    staff = _user(staff_email)
    if staff is None or staff.role is Role.HCP:
        _fail(f"no staff member with the e-mail {staff_email!r}")
        return
    hcp = _user(hcp_email)
    if hcp is None or hcp.role is not Role.HCP:
        _fail(f"no HCP with the e-mail {hcp_email!r}")
        return
    decision = contact_rule.check(staff, hcp, ContactChannel(channel))
    click.echo(json.dumps(decision.as_json(), ensure_ascii=False))
