"""The chat protocol against the real server (``python wsgi.py``: gevent, WebSocket), driven by
python-socketio's threaded client as another program would: ordering under concurrent senders,
replay after a reconnect, delivered and read receipts, presence.

The server is this module's own, with the demo data: the shared ``live_server`` also serves the
browser journeys, whose sign-ins and ended chats would change presence and consent under these
tests, and the concurrency test sends faster than ``CHAT_RATE_LIMIT`` allows by default (the limit
itself is tested in ``test_events.py``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, ROOT, _free_port, _wait_healthy

# python-socketio's client needs requests and websocket-client (``python-socketio[client]``):
# missing in CI is a failure, elsewhere a skip.
if IN_CI:
    import requests
    import socketio as socketio_client
    import websocket  # noqa: F401
else:
    requests = pytest.importorskip("requests")
    socketio_client = pytest.importorskip("socketio")
    pytest.importorskip("websocket")

NAMESPACE = "/chat"
PASSWORD = "demo-pass-2026"
TIMEOUT = 10.0  # seconds: the longest any single wait in these tests may take


# --- servers (also used by test_scale_out.py) -----------------------------------------------------
def portal_env(instance: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PORTAL_INSTANCE_PATH": str(instance),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "chat-live-test-secret",
        "SESSION_COOKIE_SECURE": "false",
        "HOST": "127.0.0.1",
        "PUBLIC_URL": "http://127.0.0.1",  # trusted hosts ignore the port each server picks
        "CHAT_RATE_LIMIT": "100000 per minute",
        "TWO_FACTOR_REQUIRED": "false",  # the demo staff sign in with their password alone
        **extra,
    }
    if "REDIS_URL" not in extra:
        env.pop("REDIS_URL", None)
    return env


def prepare_database(env: dict[str, str]) -> None:
    """``flask init-db`` and ``flask seed-demo``, as ``make run`` does."""
    # ``chat.demo`` is imported first so that its seeder is registered whatever the app imports.
    flask = "import sys, chat.demo; from flask.cli import main; sys.argv[0] = 'flask'; main()"
    for command in (["init-db"], ["seed-demo", "--quiet"]):
        done = subprocess.run(
            [sys.executable, "-c", flask, "--app", "wsgi", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")


def start_server(env: dict[str, str], log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    """``python wsgi.py`` on a free port; returns its base URL once healthy."""
    port = _free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "wsgi.py"],
            cwd=ROOT,
            env={**env, "PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, log)
    except BaseException:
        stop_server(process)
        raise
    return base, process


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def demo_server(instance: Path) -> Iterator[str]:
    """Body of a module-scoped fixture: ``python wsgi.py`` with the demo data, on a SQLite
    database of its own in ``instance``; yields its base URL, stops it afterwards."""
    env = portal_env(instance, f"sqlite:///{instance / 'portal.db'}")
    prepare_database(env)
    base, process = start_server(env, instance / "server.log")
    try:
        yield base
    finally:
        stop_server(process)


# --- a protocol client ----------------------------------------------------------------------------
class ChatClient:
    """A signed-in python-socketio client that records every ``/chat`` event it receives."""

    def __init__(self, base: str, who: str) -> None:
        self.base = base
        self.http = requests.Session()
        page = self.http.get(f"{base}/login", timeout=TIMEOUT)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
        assert token is not None, "the sign-in form has no CSRF token"
        signed_in = self.http.post(
            f"{base}/login",
            data={"email": f"{who}@example.com", "password": PASSWORD, "csrf_token": token[1]},
            timeout=TIMEOUT,
        )
        assert signed_in.ok and "/login" not in signed_in.url, f"{who} could not sign in"
        self.sio = socketio_client.Client(reconnection=False)
        self._lock = threading.Condition()
        self.received: list[tuple[str, Any]] = []
        self.sio.on("*", self._record, namespace=NAMESPACE)

    def _record(self, event: str, *args: Any) -> None:
        with self._lock:
            self.received.append((event, args[0] if args else None))
            self._lock.notify_all()

    def connect(self) -> ChatClient:
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        self.sio.connect(
            self.base,
            namespaces=[NAMESPACE],
            transports=["websocket"],
            # The same browser as the one that signed in: a session refuses any other.
            headers={"Cookie": cookies, "User-Agent": str(self.http.headers["User-Agent"])},
            wait_timeout=TIMEOUT,
        )
        return self

    def disconnect(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()

    def call(self, event: str, data: Any = None) -> Any:
        return self.sio.call(event, data, namespace=NAMESPACE, timeout=TIMEOUT)

    def events(self, name: str) -> list[Any]:
        with self._lock:
            return [data for event, data in self.received if event == name]

    def wait_for(self, name: str, predicate: Callable[[list[Any]], bool]) -> list[Any]:
        """Wait until the ``name`` events received satisfy ``predicate``; returns them."""
        deadline = time.monotonic() + TIMEOUT
        with self._lock:
            while True:
                seen = [data for event, data in self.received if event == name]
                if predicate(seen):
                    return seen
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {name!r}; got {seen!r}")
                self._lock.wait(left)

    def conversation_with(self, role: str, state: str = "active") -> dict[str, Any]:
        ack = self.call("conversations", {})
        assert ack["ok"] is True
        found = [
            c for c in ack["conversations"] if c["peer"]["role"] == role and c["state"] == state
        ]
        assert found, f"no {state} conversation with a {role} in the demo data"
        return found[0]

    def send(self, conversation_id: int, body: str) -> dict[str, Any]:
        ack = self.call(
            "send",
            {"conversation_id": conversation_id, "client_id": str(uuid.uuid4()), "body": body},
        )
        assert ack["ok"] is True, ack
        return ack["message"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from demo_server(tmp_path_factory.mktemp("chat-live"))


@pytest.fixture
def sign_in(chat_server: str) -> Iterator[Callable[[str], ChatClient]]:
    """``sign_in("hcp")`` signs a demo user in (a client of their own) and connects."""
    clients: list[ChatClient] = []

    def _sign_in(who: str) -> ChatClient:
        client = ChatClient(chat_server, who).connect()
        clients.append(client)
        return client

    yield _sign_in
    # A WebSocket client takes a moment to close: close them all at once.
    closing = [threading.Thread(target=client.disconnect) for client in clients]
    for thread in closing:
        thread.start()
    for thread in closing:
        thread.join(timeout=TIMEOUT)
    time.sleep(0.2)  # the server has counted the disconnections before the next test


def _messages_in(client: ChatClient, conversation_id: int, after_seq: int) -> list[dict[str, Any]]:
    return [
        m
        for m in client.events("message")
        if m["conversation_id"] == conversation_id and m["seq"] > after_seq
    ]


def _replay(client: ChatClient, conversation_id: int, after_seq: int) -> list[dict[str, Any]]:
    """Every stored message after ``after_seq``, following ``more`` page by page."""
    messages: list[dict[str, Any]] = []
    while True:
        ack = client.call("join", {"conversation_id": conversation_id, "after_seq": after_seq})
        assert ack["ok"] is True, ack
        messages += ack["messages"]
        if not ack["more"]:
            return messages
        after_seq = ack["messages"][-1]["seq"]


# --- tests ----------------------------------------------------------------------------------------
def test_a_socket_without_a_session_is_refused(chat_server):
    anonymous = socketio_client.Client(reconnection=False)
    with pytest.raises(socketio_client.exceptions.ConnectionError):
        anonymous.connect(
            chat_server, namespaces=[NAMESPACE], transports=["websocket"], wait_timeout=TIMEOUT
        )
    anonymous.disconnect()


def test_a_signed_in_socket_from_another_site_is_refused(chat_server):
    # Cross-site WebSocket hijacking: the browser would send the session cookie, but the Origin
    # header names the foreign page, and the server accepts its own origin only.
    def connect_from(origin: str) -> ChatClient:
        client = ChatClient(chat_server, "hcp")
        cookies = "; ".join(f"{c.name}={c.value}" for c in client.http.cookies)
        client.sio.connect(
            client.base,
            namespaces=[NAMESPACE],
            # Long-polling sends exactly the headers given (the WebSocket client adds an Origin
            # of its own).
            transports=["polling"],
            headers={"Cookie": cookies, "Origin": origin},
            wait_timeout=TIMEOUT,
        )
        return client

    with pytest.raises(socketio_client.exceptions.ConnectionError):
        connect_from("http://evil.example")
    same_site = connect_from(chat_server)
    assert same_site.call("conversations")["ok"] is True
    same_site.disconnect()


def test_concurrent_senders_get_gap_free_increasing_sequences(sign_in):
    doctor, colleague = sign_in("hcp"), sign_in("msl")
    conversation = doctor.conversation_with("msl")
    start = conversation["last_seq"]
    for client in (doctor, colleague):
        _replay(client, conversation["id"], start)
    per_side, threads_per_side = 50, 2
    acks: dict[str, list[dict[str, Any]]] = {"hcp": [], "msl": []}
    failures: list[BaseException] = []

    def send_many(who: str, client: ChatClient, part: int) -> None:
        try:
            for n in range(per_side // threads_per_side):
                acks[who].append(client.send(conversation["id"], f"{who} {part}.{n}"))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [
        threading.Thread(target=send_many, args=(who, client, part))
        for who, client in (("hcp", doctor), ("msl", colleague))
        for part in range(threads_per_side)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=4 * TIMEOUT)
    assert not failures, failures

    total = 2 * per_side
    expected = list(range(start + 1, start + total + 1))
    for client in (doctor, colleague):
        client.wait_for("message", lambda got: len([m for m in got if m["seq"] > start]) >= total)
        received = _messages_in(client, conversation["id"], start)
        # No gap, nothing twice. Arrival order is not asserted: python-engineio's client hands
        # each message to its handler on a thread of its own, so two may swap on the way in.
        assert sorted(m["seq"] for m in received) == expected
    acked = sorted(m["seq"] for side in acks.values() for m in side)
    assert acked == expected
    by_seq = {m["seq"]: m for m in _messages_in(doctor, conversation["id"], start)}
    for side in acks.values():
        for message in side:
            assert by_seq[message["seq"]] == message  # what was acknowledged is what arrived


def test_reconnecting_replays_exactly_what_was_missed(sign_in):
    doctor, colleague = sign_in("hcp"), sign_in("msl")
    conversation = doctor.conversation_with("msl")
    seen = _replay(doctor, conversation["id"], 0)
    last_seq = seen[-1]["seq"] if seen else 0
    doctor.disconnect()

    missed = [colleague.send(conversation["id"], f"while you were away {n}") for n in range(5)]
    doctor.connect()
    replayed = _replay(doctor, conversation["id"], last_seq)
    after = colleague.send(conversation["id"], "welcome back")

    assert replayed == missed
    assert [m["seq"] for m in replayed] == list(range(last_seq + 1, last_seq + 6))
    live = doctor.wait_for("message", lambda got: any(m["id"] == after["id"] for m in got))
    assert [m for m in live if m["seq"] > last_seq] == [after]  # live again, nothing twice


def test_delivered_and_read_receipts_are_told_apart(sign_in):
    doctor, colleague = sign_in("hcp"), sign_in("msl")
    conversation = doctor.conversation_with("msl")
    for client in (doctor, colleague):
        _replay(client, conversation["id"], conversation["last_seq"])
    me = colleague.conversation_with("hcp")["peer"]["id"]  # the HCP, seen from the MSL

    message = colleague.send(conversation["id"], "The summary is on page two.")
    doctor.wait_for("message", lambda got: any(m["id"] == message["id"] for m in got))
    assert doctor.call(
        "delivered", {"conversation_id": conversation["id"], "seq": message["seq"]}
    ) == {"ok": True}
    delivered = colleague.wait_for("receipt", lambda got: len(got) >= 1)
    assert doctor.call("read", {"conversation_id": conversation["id"], "seq": message["seq"]}) == {
        "ok": True
    }
    receipts = colleague.wait_for("receipt", lambda got: len(got) >= 2)

    base = {"conversation_id": conversation["id"], "user_id": me, "seq": message["seq"]}
    assert delivered == [{**base, "kind": "delivered"}]
    assert receipts == [{**base, "kind": "delivered"}, {**base, "kind": "read"}]
    assert doctor.conversation_with("msl")["unread"] == 0


def test_presence_follows_connections(sign_in):
    doctor = sign_in("hcp")
    msl_id = doctor.conversation_with("msl")["peer"]["id"]

    colleague = sign_in("msl")
    doctor.wait_for("presence", lambda got: {"user_id": msl_id, "online": True} in got)
    assert doctor.conversation_with("msl")["peer"]["online"] is True
    colleague.disconnect()
    seen = doctor.wait_for("presence", lambda got: {"user_id": msl_id, "online": False} in got)

    assert seen == [{"user_id": msl_id, "online": True}, {"user_id": msl_id, "online": False}]
    assert doctor.conversation_with("msl")["peer"]["online"] is False


def test_typing_reaches_the_other_side(sign_in):
    doctor, colleague = sign_in("hcp"), sign_in("msl")
    conversation = doctor.conversation_with("msl")
    for client in (doctor, colleague):
        _replay(client, conversation["id"], conversation["last_seq"])
    me = colleague.conversation_with("hcp")["peer"]["id"]

    assert doctor.call("typing", {"conversation_id": conversation["id"]})["ok"] is True

    typing = colleague.wait_for("typing", lambda got: len(got) >= 1)
    assert typing == [{"conversation_id": conversation["id"], "user_id": me}]
    assert doctor.events("typing") == []


def test_staff_cannot_send_in_the_ended_demo_chat(sign_in):
    colleague = sign_in("msl")
    ended = colleague.conversation_with("hcp", state="ended")

    joined = colleague.call("join", {"conversation_id": ended["id"], "after_seq": 0})
    refused = colleague.call(
        "send", {"conversation_id": ended["id"], "client_id": str(uuid.uuid4()), "body": "Hello?"}
    )

    assert joined["ok"] is True and joined["live"] is False and joined["messages"]
    assert refused["ok"] is False and refused["error"] == "consent_required"
