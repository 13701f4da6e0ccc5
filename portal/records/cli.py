"""``flask export supervisory``: the supervisory export from the command line, in this process.

``flask export supervisory --since DATE --until DATE [--hcp EMAIL] [--staff EMAIL] [--team TEAM]
[--product CODE] [--timezone ZONE] --out FILE`` writes FILE and prints one JSON line::

    {"file": "...", "sha256": "...", "bytes": n,
     "rows": {"pv_cases": n, "consents": n, "messages": n, "questions": n,
              "attestations": n, "call_notes": n, "summary": n},
     "chain_head": {"seq": n, "hash": "..."}}

Bad dates, an unknown e-mail address, team or product, an ``--out`` in a folder that does not
exist or cannot be written print ``{"error": message, "errors":
{field: message}}`` and exit with status 2 (nothing is written).
"""

from __future__ import annotations

import json
import os
import sys
from typing import NoReturn

import click
from flask import Flask
from flask.cli import AppGroup

from portal.errors import PortalError
from portal.records import export, filters

export_cli = AppGroup("export", help="Exports of the portal's records.")


@export_cli.command("supervisory")
@click.option("--since", required=True, help="First day, YYYY-MM-DD (included).")
@click.option("--until", required=True, help="Last day, YYYY-MM-DD (included).")
@click.option("--hcp", default=None, help="Only this HCP (e-mail address).")
@click.option("--staff", default=None, help="Only this staff member (e-mail address).")
@click.option("--team", default=None, help="Only this team (its key, e.g. msl).")
@click.option("--product", default=None, help="Only this product (its code).")
@click.option("--timezone", default="UTC", show_default=True, help="The days' time zone.")
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=True), help="The ZIP to write."
)
def supervisory(
    since: str,
    until: str,
    hcp: str | None,
    staff: str | None,
    team: str | None,
    product: str | None,
    timezone: str,
    out: str,
) -> None:
    """Export the records of a date range as a ZIP with a manifest (prints one JSON line)."""
    try:
        chosen = filters.parse_filters(
            since=since,
            until=until,
            timezone=timezone,
            hcp=hcp,
            staff=staff,
            team=team,
            product=product,
        )
    except PortalError as exc:
        click.echo(json.dumps({"error": exc.message, "errors": exc.errors}))
        sys.exit(2)
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        _refuse(f"The folder {folder} does not exist.", "out")
    if os.path.isdir(out):
        _refuse(f"{out} is a folder: give the ZIP's file name.", "out")
    try:
        result = export.export_to_file(chosen, out)
    except OSError as exc:  # not writable, disk full...: nothing is left behind
        _refuse(f"Could not write {out}: {exc.strerror or exc}.", "out")
    click.echo(
        json.dumps(
            {
                "file": out,
                "sha256": result.sha256,
                "bytes": result.bytes,
                "rows": result.rows,
                "chain_head": result.chain_head,
            }
        )
    )


def _refuse(message: str, field: str) -> NoReturn:
    click.echo(json.dumps({"error": message, "errors": {field: message}}))
    sys.exit(2)


def init_app(app: Flask) -> None:
    app.cli.add_command(export_cli)
