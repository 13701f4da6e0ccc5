"""Secure chat: opt-in private conversations between HCPs and their reps or MSLs."""

from chat.review_views import blueprint as review_blueprint
from chat.views import blueprint

__all__ = ["blueprint", "review_blueprint"]
