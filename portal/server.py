"""The production server: gevent's WSGI server carrying HTTP and Socket.IO on one port.

WebSocket comes from simple-websocket through python-engineio's gevent driver. Accepted sockets get
TCP_NODELAY: without it, every small acknowledged message waits for a delayed TCP ACK (~40 ms).
On the embedded default the server also runs the background worker (``portal/jobs.py``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from flask import Flask
from gevent.pywsgi import WSGIHandler, WSGIServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)


class WebSocketHandler(WSGIHandler):
    """gevent's request handler, except that a connection that asked for a WebSocket is closed
    once its request is done.

    simple-websocket writes the ``101`` itself and reads the frames from a duplicate of the
    socket, so gevent never learns that the connection stopped being HTTP: when a WebSocket ended
    it read on for a next request and logged the client's last frames as one (``Invalid HTTP
    method: '\\x81\\x88...'``, or a traceback when the bytes broke its parser otherwise). A refused
    upgrade (400) closes the connection too: the client opens a new one for what it does next.
    """

    def handle_one_response(self) -> None:
        try:
            super().handle_one_response()
        finally:
            if (self.environ or {}).get("HTTP_UPGRADE", "").lower() == "websocket":
                self.close_connection = True


class NoDelayWSGIServer(WSGIServer):
    """A gevent WSGI server that disables Nagle's algorithm on every accepted connection."""

    handler_class = WebSocketHandler

    def handle(self, sock: socket.socket, address: Any) -> None:
        # A Unix socket has no Nagle algorithm to switch off.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


class UnknownSessionGuard:
    """Answers 400 at once, in one log line, to a Socket.IO request naming a session (``sid``)
    that this process does not hold.

    After a failover a client may still use the session it had on a process that died (its next
    long-polling request, or the upgrade of one to WebSocket), and the balancer sends that here.
    Engine.IO refuses it too, but logs it at ERROR the first time (twice: it adds a handler of
    its own) and never again. The client, refused, starts a new session (docs/deploy.md).
    """

    def __init__(self, app: Flask, path: str = "/socket.io/") -> None:
        self.app = app
        self.path = path

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(self.path):
            query = parse_qs(environ.get("QUERY_STRING", ""))
            sid = query.get("sid", [None])[0]
            if sid is not None and not self._holds(sid):
                transport = query.get("transport", ["polling"])[0]
                log.warning(
                    "Socket.IO session %r is not held by this process (%s, %s): answered 400, "
                    "the client starts a new one",
                    sid[:32],  # repr: whatever the client wrote stays on one line
                    environ.get("REQUEST_METHOD"),
                    transport if transport in ("polling", "websocket") else "other transport",
                )
                body = b'"Invalid session"'
                start_response(
                    "400 BAD REQUEST",
                    [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
                )
                return [body]
        return self.app(environ, start_response)

    def _holds(self, sid: str) -> bool:
        server = getattr(self.app.extensions.get("socketio"), "server", None)
        return server is None or sid in server.eio.sockets


def build_server(app: Flask, host: str, port: int) -> NoDelayWSGIServer:
    # Engine.IO and Socket.IO add a stream handler of their own when their logger has none, so
    # each of their lines would be printed twice (once more through the root logger's).
    for name in ("engineio.server", "socketio.server"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:
                logger.removeHandler(handler)
    return NoDelayWSGIServer(
        (host, port), UnknownSessionGuard(app), log=None, error_log=logging.getLogger("gevent")
    )


def serve(app: Flask, host: str | None = None, port: int | None = None) -> None:
    """Serve ``app`` until interrupted. The process must have been monkey-patched by gevent."""
    from portal import jobs
    from portal.extensions import socketio
    from portal.urls import public_url

    links = public_url(app)  # raises PublicURLError before anything starts
    host = host or os.environ.get("HOST", "127.0.0.1")
    port = port or int(os.environ.get("PORT", "5000"))
    if socketio.async_mode != "gevent":
        raise RuntimeError("serve() needs gevent: start the portal with `python wsgi.py`")
    if jobs.runs_in_process(app):
        # The embedded default: this process is the only one, so it is the worker too.
        socketio.start_background_task(jobs.Worker(app, role="web").run_forever)
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
