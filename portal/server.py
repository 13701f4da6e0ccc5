"""The production server: gevent's WSGI server carrying HTTP and Socket.IO on one port.

WebSocket comes from simple-websocket through python-engineio's gevent driver. Accepted sockets get
TCP_NODELAY: without it, every small acknowledged message waits for a delayed TCP ACK (~40 ms).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import Any

from flask import Flask
from gevent.pywsgi import WSGIServer

log = logging.getLogger(__name__)


class NoDelayWSGIServer(WSGIServer):
    """A gevent WSGI server that disables Nagle's algorithm on every accepted connection."""

    def handle(self, sock: socket.socket, address: Any) -> None:
        # A Unix socket has no Nagle algorithm to switch off.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


def _outbox_worker(app: Flask) -> None:
    """Every ``OUTBOX_INTERVAL_SECONDS`` while the server runs: tell people what went overdue,
    then drain the mail outbox (so the overdue e-mails leave in the same round)."""
    from portal.extensions import db, socketio
    from portal.questions.services import sweep_overdue
    from portal.services import mail

    interval = app.config["OUTBOX_INTERVAL_SECONDS"]
    while True:
        socketio.sleep(interval)
        with app.app_context():
            for job in (sweep_overdue, mail.send_pending):
                try:
                    job()
                except Exception:  # keep the worker alive; the work is retried next round
                    log.exception("background job %s failed", job.__name__)
                    db.session.rollback()
            db.session.remove()


def build_server(app: Flask, host: str, port: int) -> NoDelayWSGIServer:
    return NoDelayWSGIServer((host, port), app, log=None, error_log=logging.getLogger("gevent"))


def serve(app: Flask, host: str | None = None, port: int | None = None) -> None:
    """Serve ``app`` until interrupted. The process must have been monkey-patched by gevent."""
    from portal.extensions import socketio
    from portal.urls import public_url

    links = public_url(app)  # raises PublicURLError before anything starts
    host = host or os.environ.get("HOST", "127.0.0.1")
    port = port or int(os.environ.get("PORT", "5000"))
    if socketio.async_mode != "gevent":
        raise RuntimeError("serve() needs gevent: start the portal with `python wsgi.py`")
    socketio.start_background_task(_outbox_worker, app)
    # Read the detection vocabularies before the first request: otherwise the first question or
    # chat message after a start waits for them (about two seconds).
    from portal.safety import detection

    detection.detect_adverse_event("")
    server = build_server(app, host, port)
    log.info(
        "HCP portal listening on http://%s:%s; links in mail point at %s",
        host,
        port,
        links,
    )
    server.serve_forever()
