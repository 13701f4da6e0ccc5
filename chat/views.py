"""Chat pages (the conversation UI arrives with the chat feature)."""

from flask import Blueprint

blueprint = Blueprint("chat", __name__)
