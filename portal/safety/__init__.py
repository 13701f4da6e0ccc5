"""Safety: every possible adverse event reaches Pharmacovigilance, wherever it was said.

Detection (``detection``) and its phrase data (``phrases/``), and PV cases (``models``,
``services``), used by questions and chat alike; the PV workspace (``workspace``, ``follow_ups``,
``export``, ``views``) where PV works them, and where HCPs answer PV's follow-up questions.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the PV workspace and the HCP's PV request pages under ``/safety``."""
    from portal.safety.views import blueprint

    app.register_blueprint(blueprint, url_prefix="/safety")
