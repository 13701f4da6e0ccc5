"""Compliance review of chat conversations (read-only) and the restricted-phrase list."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("chat_review", __name__)
