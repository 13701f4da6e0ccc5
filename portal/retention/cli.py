"""``flask retention purge [--dry-run]``: the purge from the command line.

Prints exactly one JSON object ``{"dry_run": bool, "removed": {"<kind>": n, ...}}`` with every
kind of :class:`portal.retention.models.RecordKind`; with ``--dry-run`` the counts are what
would be removed and nothing changes (no run is recorded, no audit record). A purge that fails
prints ``{"error": message}`` and exits 1 (the run is recorded as failed).
"""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

retention_cli = AppGroup("retention", help="Retention periods and the purge.")


@retention_cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would be removed; change nothing.")
def purge_command(dry_run: bool) -> None:
    """Remove the records past their retention period that no legal hold keeps."""
    from portal.retention import purge

    if dry_run:
        removed = purge.count_due()
    else:
        try:
            run = purge.purge(trigger="cli")
        except Exception as exc:  # recorded on the run and logged by purge()
            click.echo(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
            sys.exit(1)
        removed = dict(run.counts)
    click.echo(json.dumps({"dry_run": dry_run, "removed": removed}))
