"""Safety: every possible adverse event reaches Pharmacovigilance, wherever it was said.

Detection (``detection``) and its phrase data (``phrases/``), and PV cases (``models``,
``services``), used by questions and chat alike; the PV workspace (``workspace``, ``follow_ups``,
``export``, ``views``) where PV works them, and where HCPs answer PV's follow-up questions.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from portal.safety.workspace import ChatSource


@dataclasses.dataclass
class SafetyExtension:
    """What safety keeps per app, in ``app.extensions["safety"]``."""

    # How the PV workspace learns about chat messages: the chat package answers (safety never
    # imports it).
    chat_source: ChatSource | None = None


def extension(app: Flask) -> SafetyExtension:
    """The safety state of ``app``, created on first use (another package's ``init_app`` may plug
    into it before safety's own has run)."""
    state = app.extensions.get("safety")
    if state is None:
        state = app.extensions["safety"] = SafetyExtension()
    assert isinstance(state, SafetyExtension)
    return state


def init_app(app: Flask) -> None:
    """Wire safety into ``app``: the PV workspace and the HCP's PV request pages under
    ``/safety``, and the HCP's home page panel of PV's waiting questions."""
    from portal.main.panels import register_home_panel
    from portal.safety import views

    extension(app)
    app.register_blueprint(views.blueprint, url_prefix="/safety")
    register_home_panel(app, views.home_panel)
