"""Library pages (materials arrive with the content feature)."""

from flask import Blueprint

blueprint = Blueprint("content", __name__)
