"""Secure chat: opt-in private conversations between HCPs and their reps or MSLs."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Wire chat into ``app``: its pages under ``/chat``, the compliance review under
    ``/compliance/chats``, the home page panel, the demo chats of ``seed-demo``, and what chat
    answers for the rest of the portal (which never imports it).

    Its Socket.IO handlers (``chat.events``) are declared by ``create_app`` before Socket.IO
    starts: Flask-SocketIO gives each app's server only the handlers declared before its first
    ``init_app``.
    """
    from chat import consent, conversations, demo, presence, review_views, views
    from chat.pv import PvChatSource
    from portal import policy
    from portal.main.badges import USER_ID, register_badge
    from portal.main.panels import register_home_panel
    from portal.questions.intake import register_chat_opt_in_check
    from portal.realtime import register_socket_closer
    from portal.safety.workspace import register_chat_source
    from portal.services.demo import register_demo_seeder

    app.register_blueprint(views.blueprint, url_prefix="/chat")
    app.register_blueprint(review_views.blueprint, url_prefix="/compliance/chats")
    register_home_panel(app, views.home_panel)
    # The unread badge next to "Chat" in the navigation bar, for those who use chat.
    register_badge(
        app,
        "chat_unread",
        conversations.unread_total_query(USER_ID),
        shown_to=policy.can_use_chat,
    )
    register_demo_seeder(app, demo.seed_chats)
    # Questions offer "reply in my chat" only to HCPs who opted in to a chat.
    register_chat_opt_in_check(app, consent.has_active_chat)
    # A suspended account (or one whose password was reset) keeps no live chat socket.
    register_socket_closer(presence.disconnect_user)
    # The PV workspace links a case to its message in the transcript and guesses its product.
    register_chat_source(app, PvChatSource())
