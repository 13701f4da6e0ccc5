"""Socket.IO handlers of the ``/chat`` namespace.

A connection is accepted only with a signed-in, active Flask-Login session; every event handler
authorises again on the server.
"""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from portal.extensions import socketio

NAMESPACE = "/chat"


@socketio.on("connect", namespace=NAMESPACE)
def connect(auth: Any = None) -> bool:
    """Refuse connections that carry no valid portal session."""
    return bool(current_user.is_authenticated and current_user.is_active)
