"""Records: the supervisory export for compliance (``/records/exports``, ``flask export
supervisory``).

- ``serialize.py``: one plain dict per kind of record (also used by the personal-data download);
- ``models.py``: export runs and their files, kept in the database in parts;
- ``export.py``: filters, the streaming ZIP engine, the services and the worker's jobs;
- ``views.py``: the page (request, progress, download); ``cli.py``: the command.
"""

from __future__ import annotations

import datetime as dt

from flask import Flask


def init_app(app: Flask) -> None:
    """Wire the export pages, the worker's jobs (the export, the pruning of old files) and
    ``flask export`` into ``app``."""
    from portal import jobs
    from portal.records import cli, export, views

    app.register_blueprint(views.blueprint, url_prefix="/records")
    # One attempt of a long lease: an export outlives a normal job; a failed one is marked on
    # its run and asked for again by a person, not retried behind their back.
    jobs.register(app, export.JOB_KIND, export.run_job, lease=dt.timedelta(hours=2), max_attempts=2)
    cli.init_app(app)
