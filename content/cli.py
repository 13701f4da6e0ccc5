"""``flask content ...`` commands."""

from __future__ import annotations

import click

from content import services
from content.views import blueprint


@blueprint.cli.command("reindex")
def reindex() -> None:
    """Rebuild the library's search index from the approved materials."""
    count = services.reindex_all()
    click.echo(f"Indexed {count} approved materials.")
