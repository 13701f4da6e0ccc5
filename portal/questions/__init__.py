"""Questions from HCPs: routed to the right team by rules within hard compliance limits, worked to
a due time.

:mod:`intake` (asking, follow-ups, the HCP's own questions), :mod:`work` (the staff's queues and
working a question), :mod:`sweeps` (overdue), :mod:`thread` (one question as its reader may see
it), :mod:`settings` (routing administration), :mod:`routing` (the engine) and :mod:`facts` (its
data).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from portal.models import User


@dataclasses.dataclass
class QuestionsExtension:
    """What questions keep per app, in ``app.extensions["questions"]``."""

    # Whether an HCP has opted in to chat: the chat package answers (questions never import it).
    chat_opt_in: Callable[[User], bool] | None = None


def extension(app: Flask) -> QuestionsExtension:
    """The questions state of ``app``, created on first use (another package's ``init_app`` may
    plug into it before questions' own has run)."""
    state = app.extensions.get("questions")
    if state is None:
        state = app.extensions["questions"] = QuestionsExtension()
    assert isinstance(state, QuestionsExtension)
    return state


def init_app(app: Flask) -> None:
    """Wire questions into ``app``: the HCP's and staff's pages under ``/questions``, routing
    administration under ``/admin/routing``, ``flask questions ...``, the home page panel and
    the demo questions of ``seed-demo``."""
    from portal.main.panels import register_home_panel
    from portal.questions import admin_views, cli, demo, views
    from portal.services.demo import register_demo_seeder

    extension(app)
    app.register_blueprint(views.blueprint, url_prefix="/questions")
    app.register_blueprint(admin_views.blueprint, url_prefix="/admin/routing")
    app.cli.add_command(cli.questions_cli)
    register_home_panel(app, views.home_panel)
    register_demo_seeder(app, demo.seed_questions)
