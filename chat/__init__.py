"""Secure chat: opt-in private conversations between HCPs and their reps or MSLs."""

from chat import (
    demo,  # noqa: F401  (registers the demo chats with seed-demo)
    services,
)
from chat.review_views import blueprint as review_blueprint
from chat.views import blueprint
from portal.inquiries.services import register_chat_opt_in_check

# Questions offer "reply in my chat" only to HCPs who opted in to a chat.
register_chat_opt_in_check(services.has_active_chat)

__all__ = ["blueprint", "review_blueprint"]
