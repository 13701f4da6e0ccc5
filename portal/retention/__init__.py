"""Retention: how long each kind of record is kept, legal holds, and the daily purge.

- ``models.py``: the periods (data, defaults in ``RETENTION_DEFAULT_DAYS``), legal holds and
  the purge's runs;
- ``periods.py``: the periods in force and changing them (administrators, audited);
- ``holds.py``: placing and releasing holds (compliance, audited), :func:`holds.is_held` (erasure
  asks it) and the SQL clause the purge uses;
- ``purge.py``: the purge (the worker's daily ``retention.purge`` job, ``flask retention purge``);
- ``views.py``: the page ``/admin/retention``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask


def _purge_job(payload: dict[str, Any]) -> None:
    from portal.retention import purge

    purge.purge(trigger="job")


def _refuse_unusable_defaults(app: Flask) -> None:
    """No process (server, worker or ``flask`` command) starts with retention defaults the page
    would refuse, above all a safety period below the regulatory minimum: the purge would
    otherwise delete adverse-event records too early. Like a missing ``SECRET_KEY``
    (``portal/__init__.py``): the error itself, or a click error under ``flask``."""
    import click

    from portal.retention.periods import RetentionConfigError, check_config

    try:
        check_config(app.config)
    except RetentionConfigError as exc:
        if click.get_current_context(silent=True) is None:
            raise
        raise click.ClickException(str(exc)) from None


def init_app(app: Flask) -> None:
    """Check the retention defaults; register the retention page, the daily purge job and
    ``flask retention``."""
    from portal import jobs
    from portal.retention.cli import retention_cli
    from portal.retention.views import blueprint

    _refuse_unusable_defaults(app)

    app.register_blueprint(blueprint, url_prefix="/admin/retention")
    # Periodic: one row for the whole deployment, so each day's purge runs once whatever the
    # number of workers. The lease outlasts a long first purge; a failed one waits a day.
    jobs.register(
        app,
        "retention.purge",
        _purge_job,
        every=dt.timedelta(days=1),
        lease=dt.timedelta(hours=2),
        max_attempts=1,
    )
    app.cli.add_command(retention_cli)
