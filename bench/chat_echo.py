"""The bare baseline for ``bench/chat.py``: a Flask-SocketIO echo with no auth and no database.

Same async mode (gevent), same server class (:func:`portal.server.build_server`, TCP_NODELAY on),
same namespace and event names as the portal's chat, so the benchmark's clients run unchanged:
``join`` puts the socket in a room, ``send`` numbers the message, emits it to the (two-member)
room and acknowledges it. Everything the portal adds on top (session, policy, consent, phrases,
store with sequence, adverse-event check, audit) is what the comparison measures.

    PORT=5055 .venv/bin/python bench/chat_echo.py

Listens on 127.0.0.1 only.
"""

from __future__ import annotations

if __name__ == "__main__":
    # Patch before anything imports socket, ssl or threading (as wsgi.py does).
    from gevent import monkey

    monkey.patch_all()

import datetime as dt
import itertools
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flask import Flask, request  # noqa: E402
from flask_socketio import SocketIO, join_room  # noqa: E402

NAMESPACE = "/chat"


def create_echo_app() -> tuple[Flask, SocketIO]:
    app = Flask(__name__)
    socketio = SocketIO(app, async_mode="gevent", cors_allowed_origins=[])
    sequences: defaultdict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
    ids = itertools.count(1)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @socketio.on("connect", namespace=NAMESPACE)
    def connect(auth: Any = None) -> bool:
        return True

    @socketio.on("join", namespace=NAMESPACE)
    def join(data: Any) -> dict[str, Any]:
        join_room(f"conversation:{data['conversation_id']}", sid=request.sid, namespace=NAMESPACE)  # type: ignore[attr-defined]
        return {"ok": True, "messages": [], "more": False}

    @socketio.on("send", namespace=NAMESPACE)
    def send(data: Any) -> dict[str, Any]:
        conversation_id = data["conversation_id"]
        message = {
            "id": next(ids),
            "conversation_id": conversation_id,
            "client_id": data["client_id"],
            "seq": next(sequences[conversation_id]),
            "sender_id": request.sid,  # type: ignore[attr-defined]
            "sender_name": "",
            "body": data["body"],
            "sent_at": dt.datetime.now(dt.UTC).isoformat(),
            "edited": False,
            "deleted": False,
            "flags": [],
        }
        socketio.emit("message", message, to=f"conversation:{conversation_id}", namespace=NAMESPACE)
        return {"ok": True, "message": message}

    return app, socketio


def main() -> None:
    from portal.server import build_server

    app, _ = create_echo_app()
    port = int(os.environ.get("PORT", "5055"))
    build_server(app, "127.0.0.1", port).serve_forever()


if __name__ == "__main__":
    main()
