"""A real receiver on loopback, and subscriptions made the way administrators make them."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask

from portal.models import Role, User
from portal.webhooks import service
from portal.webhooks.models import WebhookSubscription
from tests.factories import make_user


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 (ephemeral port) that records every POST and answers with
    the next status of ``statuses`` (200 once they run out)."""

    base: str = ""
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return self.base + path

    def answer(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200

    def delivery_ids(self, path: str | None = None) -> list[int]:
        return [
            int(r.headers["X-Portal-Delivery"])
            for r in self.requests
            if path is None or r.path == path
        ]


def verify(secret: str, header: str, body: bytes) -> int:
    """What a receiver does (docs/webhooks.md): returns ``t`` when the signature holds."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(
        secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(expected, parts["v1"]), "the signature does not verify"
    return int(parts["t"])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status = state.answer()
            with state.lock:
                state.requests.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", state.url("/elsewhere"))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def admin(app: Flask) -> User:
    return make_user(Role.ADMIN)


def subscribe(
    admin: User,
    url: str,
    events: Iterable[str] = ("material.withdrawn",),
    scopes: Iterable[str] = ("read:commercial",),
    name: str = "CRM",
) -> tuple[WebhookSubscription, str]:
    return service.create_subscription(admin, name=name, url=url, events=events, scopes=scopes)
