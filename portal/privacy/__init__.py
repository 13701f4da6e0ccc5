"""Data rights: an HCP downloads everything the portal holds about them, and deletes their
account; administrators and the command line erase the same way.

- ``models.py``: erasure requests (pending under a legal hold, or done with their counts);
- ``collect.py``: everything about a person, as one JSON document (:func:`collect.download`);
- ``erase.py``: :func:`erase.erase_person`, the one unit of work of an erasure;
- ``views.py``: ``/account/privacy`` (the HCP), ``/admin/users/<id>/erase`` and
  ``/admin/privacy/requests`` (administrators);
- ``cli.py``: ``flask privacy export`` and ``flask privacy erase``.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the pages and ``flask privacy``."""
    from portal.privacy.cli import privacy_cli
    from portal.privacy.erase import is_erased
    from portal.privacy.views import blueprint

    app.register_blueprint(blueprint)
    app.cli.add_command(privacy_cli)
    # The user's admin page offers erasure only to an account not erased yet.
    app.add_template_global(is_erased, "privacy_is_erased")
