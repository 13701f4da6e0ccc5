"""Pages of the account team (filled in by the issue 15 work)."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("roster", __name__)
