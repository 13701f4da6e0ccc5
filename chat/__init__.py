"""Secure chat: opt-in private conversations between HCPs and their reps or MSLs."""

from chat import (
    demo,  # noqa: F401  (registers the demo chats with seed-demo)
    presence,
    services,
)
from chat.pv import PvChatSource
from chat.review_views import blueprint as review_blueprint
from chat.views import blueprint
from portal.questions.services import register_chat_opt_in_check
from portal.realtime import register_socket_closer
from portal.safety.workspace import register_chat_source

# Questions offer "reply in my chat" only to HCPs who opted in to a chat.
register_chat_opt_in_check(services.has_active_chat)
# A suspended account (or one whose password was reset) keeps no live chat socket.
register_socket_closer(presence.disconnect_user)
# The PV workspace links a case to its message in the transcript and guesses its product.
register_chat_source(PvChatSource())

__all__ = ["blueprint", "review_blueprint"]
