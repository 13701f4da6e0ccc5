"""Chat benchmark: the portal's full chat path against a bare Flask-SocketIO echo, in one run.

Creates a fresh instance (SQLite, or a PostgreSQL database of its own plus Redis as the Socket.IO
message queue), ``flask --app wsgi init-db``, then N HCP/staff pairs with active consented
conversations through the chat services, and starts the server as ``make run`` does
(``python wsgi.py``: gevent + simple-websocket, TCP_NODELAY). Every client signs in over HTTP
(GET /login for the CSRF token, POST /login), opens a WebSocket on ``/socket.io/`` with the
session cookie, connects to the ``/chat`` namespace and joins its conversation. The same clients
and message pattern then run against ``bench/chat_echo.py`` (same async mode and server class, no
auth, no database):

- saturation (10 and 100 pairs; each side keeps one message outstanding): delivered messages/s;
- human rate (500 pairs, each side one message every 2 s): p50/p99 send-to-receive; one client
  alone: median acknowledgement;
- 2,000 idle connected clients: server RSS per connection;
- with PostgreSQL + Redis, ``balanced`` (50 pairs, ``--balanced-pairs``): saturation through
  haproxy (docs/deploy/haproxy.cfg, plain HTTP on a free loopback port) in front of two
  ``python wsgi.py`` processes sharing the database, Redis and SECRET_KEY, everyone signed in
  through the balancer, then the same clients against one of those processes alone, directly:
  both rates and their ratio (reported, no target; no haproxy: the row says so);
- every run: messages acknowledged but never received by the peer (lost), received twice
  (duplicated), received out of sequence order.

    .venv/bin/python bench/chat.py                          # SQLite, full run (~6 minutes)
    .venv/bin/python bench/chat.py --pairs 10 --seconds 5   # quick check
    .venv/bin/python bench/chat.py --backend postgresql     # PostgreSQL + Redis, and balanced
    .venv/bin/python bench/chat.py --json                   # one JSON object per configuration

The clients are a small asyncio implementation of the Engine.IO 4 / Socket.IO 5 WebSocket
protocol (no extra dependency, and light enough that the client process is not what saturates).
Everything runs on 127.0.0.1; every phase is bounded in time and count.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
PASSWORD = "bench-chat-password-2026"  # noqa: S105 - throwaway accounts in a temporary database
USER_AGENT = "bench-chat/1"  # the same on HTTP and WebSocket: the session is bound to it
NAMESPACE = "/chat"
HUMAN_INTERVAL = 2.0
# Plain clinical small talk: no restricted phrase, no adverse-event wording.
BODIES = [
    "Thank you, the dosing summary you sent last week was clear.",
    "Could you share the approved leaflet for the outpatient clinic?",
    "I will be at the congress on Thursday afternoon, shall we meet?",
    "Noted. I will forward the question to our medical information team.",
]
TARGETS = {"sqlite": 0.6, "postgresql": 0.35}  # issue 13


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- a minimal Socket.IO client ---------------------------------------------------------------
class SocketIOClient(asyncio.Protocol):
    """One WebSocket connection speaking Engine.IO 4 / Socket.IO 5 to the ``/chat`` namespace.

    Client frames are masked with a zero key (allowed by RFC 6455, and it spares the XOR)."""

    def __init__(self, on_message: Callable[[SocketIOClient, dict[str, Any]], None]) -> None:
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.fragments: list[bytes] = []
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_ack = 0
        loop = asyncio.get_running_loop()
        self.connected: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    # transport callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        with contextlib.suppress(OSError):
            transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        error = ConnectionError(f"connection lost: {exc}")
        if not self.connected.done():
            self.connected.set_exception(error)
        for future in self.acks.values():
            if not future.done():
                future.set_exception(error)
        self.acks.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[:end]).split(b"\r\n", 1)[0]
            del self.buffer[: end + 4]
            if b" 101 " not in status + b" ":
                self._fail(f"upgrade refused: {status.decode(errors='replace')}")
                return
            self.upgraded = True
        self._frames()

    def _frames(self) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            length = second & 0x7F
            start = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length = int.from_bytes(buffer[2:4], "big")
                start = 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length = int.from_bytes(buffer[2:10], "big")
                start = 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start : start + length])
            del buffer[: start + length]
            opcode = first & 0x0F
            if opcode in (0x1, 0x0):
                self.fragments.append(payload)
                if first & 0x80:
                    text = b"".join(self.fragments).decode()
                    self.fragments = []
                    self._packet(text)
            elif opcode == 0x9:
                self._write_frame(0xA, payload)
            elif opcode == 0x8:
                if self.transport is not None:
                    self.transport.close()
                return

    def _packet(self, text: str) -> None:
        kind = text[0]
        if kind == "2":  # Engine.IO ping
            self._write_frame(0x1, b"3")
        elif kind == "0":  # Engine.IO open: connect to the namespace
            self._write_frame(0x1, f"40{NAMESPACE},".encode())
        elif kind == "4":
            self._socketio(text[1:])

    def _socketio(self, text: str) -> None:
        kind = text[0]
        rest = text[1:]
        if rest.startswith(NAMESPACE + ","):
            rest = rest[len(NAMESPACE) + 1 :]
        if kind == "2":
            event = json.loads(rest)
            if event and event[0] == "message":
                self.on_message(self, event[1])
        elif kind == "3":
            digits = 0
            while digits < len(rest) and rest[digits].isdigit():
                digits += 1
            future = self.acks.pop(int(rest[:digits]), None)
            if future is not None and not future.done():
                args = json.loads(rest[digits:])
                future.set_result(args[0] if args else None)
        elif kind == "0":
            if not self.connected.done():
                self.connected.set_result(None)
        elif kind == "4":
            self._fail(f"namespace connection refused: {rest}")
        elif kind == "1" and self.transport is not None:
            self.transport.close()

    def _fail(self, reason: str) -> None:
        if not self.connected.done():
            self.connected.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.close()

    def _write_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        length = len(payload)
        if length < 126:
            header = bytes((0x80 | opcode, 0x80 | length))
        elif length < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
        self.transport.write(header + b"\0\0\0\0" + payload)

    # API
    def emit(self, event: str, data: dict[str, Any]) -> asyncio.Future[Any]:
        """Send an event; the future resolves with the acknowledgement's first argument."""
        self.next_ack += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[self.next_ack] = future
        body = json.dumps([event, data], separators=(",", ":"))
        self._write_frame(0x1, f"42{NAMESPACE},{self.next_ack}{body}".encode())
        return future

    async def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._write_frame(0x1, f"41{NAMESPACE},".encode())
            self._write_frame(0x8, b"\x03\xe8")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.closed), 2)
            self.transport.close()


async def open_client(
    port: int, cookie: str, on_message: Callable[[SocketIOClient, dict[str, Any]], None]
) -> SocketIOClient:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: SocketIOClient(on_message), "127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"User-Agent: {USER_AGENT}\r\n" + (f"Cookie: {cookie}\r\n" if cookie else "") + "\r\n"
    )
    assert client.transport is not None
    client.transport.write(request.encode())
    try:
        await asyncio.wait_for(asyncio.shield(client.connected), 30)
    except BaseException:
        client.transport.close()
        raise
    return client


# --- HTTP sign-in -----------------------------------------------------------------------------
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def _cookies(response: http.client.HTTPResponse, jar: dict[str, str]) -> None:
    for header, value in response.getheaders():
        if header.lower() == "set-cookie":
            name, _, rest = value.partition("=")
            jar[name.strip()] = rest.split(";", 1)[0]


def sign_in(port: int, email: str, password: str = PASSWORD) -> str:
    """GET /login for the CSRF token, POST /login; returns the Cookie header of the session."""
    jar: dict[str, str] = {}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", "/login", headers={"User-Agent": USER_AGENT})
        response = connection.getresponse()
        page = response.read().decode()
        _cookies(response, jar)
        match = CSRF.search(page)
        if response.status != 200 or match is None:
            raise RuntimeError(f"GET /login answered {response.status} without a CSRF token")
        form = urllib.parse.urlencode(
            {"csrf_token": match.group(1) or match.group(2), "email": email, "password": password}
        )
        cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
        connection.request(
            "POST",
            "/login",
            body=form,
            headers={
                "User-Agent": USER_AGENT,
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": cookie,
            },
        )
        response = connection.getresponse()
        response.read()
        _cookies(response, jar)
        if response.status != 302 or "/login" in (response.getheader("Location") or "/login"):
            raise RuntimeError(f"sign-in of {email} failed (HTTP {response.status})")
    finally:
        connection.close()
    return "; ".join(f"{k}={v}" for k, v in jar.items())


# --- the population ---------------------------------------------------------------------------
@dataclasses.dataclass
class Pair:
    conversation_id: int
    hcp_email: str
    staff_email: str
    hcp_cookie: str = ""
    staff_cookie: str = ""


def create_pairs(count: int, log_progress: Callable[[str], None]) -> list[Pair]:
    """``count`` verified HCPs, each in a territory of their own covered by one MSL or rep, each
    pair with an active consented conversation opened through ``chat.consent.start_chat``."""
    from sqlalchemy import select

    from chat import consent, phrases
    from portal import create_app
    from portal.extensions import db
    from portal.models import (
        HcpProfile,
        Profession,
        Role,
        Team,
        TeamKey,
        TeamMembership,
        Territory,
        User,
        Verification,
        utcnow,
    )
    from portal.npi import NPI_PREFIX, _luhn_check_digit
    from portal.services.passwords import _hasher_for

    # The server verifies with its own (production) profile; a hash made with it is not
    # upgraded at sign-in, so signing in writes what a real sign-in writes and no more.
    password_hash = _hasher_for("default").hash(PASSWORD)
    app = create_app({"REDIS_URL": None, "SOCKETIO_ASYNC_MODE": "threading"})
    pairs: list[Pair] = []
    with app.app_context():
        phrases.ensure_default_restricted_phrases()
        teams = {t.key: t for t in db.session.scalars(select(Team))}
        now = utcnow()
        people: list[tuple[User, User]] = []
        for i in range(count):
            territory = Territory(code=f"B-{i:05d}", name=f"Bench {i}", country="US")
            role = Role.MSL if i % 2 == 0 else Role.REP
            staff = User(
                email=f"staff{i}@bench.invalid", name=f"Staff {i}", role=role,
                password_hash=password_hash, email_confirmed_at=now,
            )  # fmt: skip
            key = TeamKey.MSL if role is Role.MSL else TeamKey.SALES
            if key in teams:
                staff.memberships = [TeamMembership(team=teams[key])]
            staff.territories = [territory]
            body = f"1{i + 10_000_000:08d}"[:9]
            hcp = User(
                email=f"hcp{i}@bench.invalid", name=f"Dr. Bench {i}", role=Role.HCP,
                password_hash=password_hash, email_confirmed_at=now,
            )  # fmt: skip
            hcp.hcp_profile = HcpProfile(
                profession=Profession.PHYSICIAN, specialty="Cardiology",
                institution="Bench Hospital", country="US", postal_code="10001",
                npi=body + str(_luhn_check_digit(NPI_PREFIX + body)),
                verification=Verification.VERIFIED, verified_at=now, territory=territory,
            )  # fmt: skip
            db.session.add_all([territory, staff, hcp])
            people.append((hcp, staff))
        db.session.commit()
        wording_id = consent.consent_wording().id
        for i, (hcp, staff) in enumerate(people):
            conversation = consent.start_chat(hcp, staff.id, wording_id=wording_id)
            pairs.append(Pair(conversation.id, hcp.email, staff.email))
            if (i + 1) % 200 == 0:
                log_progress(f"  {i + 1} conversations")
        db.session.remove()
        db.engine.dispose()
    return pairs


# --- servers ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Server:
    """A server subprocess on a free loopback port, logging to a file; stopped on exit."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], logs: Path, *, port: int = 0
    ) -> None:
        self.name = name
        self.port = port or free_port()
        self.log_path = logs / f"{name}.log"
        self.log_file = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and scripts
            argv,
            cwd=ROOT,
            env={**env, "PORT": str(self.port)},
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    connection.close()
                    return
                connection.close()
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer /healthz: {self.tail()}")

    def tail(self) -> str:
        if not self.log_file.closed:
            self.log_file.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def rss_kb(self) -> int:
        return rss_kb(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log_file.close()


# --- measuring --------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


class Tally:
    """What was sent, acknowledged and received, per conversation, for one configuration."""

    def __init__(self) -> None:
        self.sent_at: dict[str, float] = {}  # client_id -> perf_counter at send
        self.sender: dict[str, SocketIOClient] = {}
        self.acked: set[str] = set()
        self.received: Counter[str] = Counter()  # peer deliveries by client_id
        self.last_seq: dict[tuple[int, int], int] = {}  # (receiver, conversation) -> seq
        self.out_of_order = 0
        self.errors: Counter[str] = Counter()
        self.delivered = 0
        self.latencies: list[float] = []
        self.ack_latencies: list[float] = []
        self.measuring = False

    def on_message(self, client: SocketIOClient, message: dict[str, Any]) -> None:
        client_id = message.get("client_id")
        if not isinstance(client_id, str) or self.sender.get(client_id) is client:
            return  # our own message, echoed to the room (or not one of ours)
        now = time.perf_counter()
        self.received[client_id] += 1
        key = (id(client), int(message["conversation_id"]))
        seq = int(message["seq"])
        if seq <= self.last_seq.get(key, 0):
            self.out_of_order += 1
        self.last_seq[key] = seq
        sent = self.sent_at.get(client_id)
        if sent is not None and self.received[client_id] == 1:
            self.delivered += 1
            if self.measuring:
                self.latencies.append((now - sent) * 1000)

    async def send(self, client: SocketIOClient, conversation_id: int) -> dict[str, Any] | None:
        client_id = str(uuid.uuid4())
        body = random.choice(BODIES)  # noqa: S311 - not a secret
        self.sender[client_id] = client
        started = time.perf_counter()
        self.sent_at[client_id] = started
        ack = await client.emit(
            "send", {"conversation_id": conversation_id, "client_id": client_id, "body": body}
        )
        if isinstance(ack, dict) and ack.get("ok"):
            self.acked.add(client_id)
            if self.measuring:
                self.ack_latencies.append((time.perf_counter() - started) * 1000)
            return ack
        self.errors[str(ack.get("error") if isinstance(ack, dict) else ack)] += 1
        return None

    async def drain(self, timeout: float = 10) -> None:
        """Wait until every acknowledged message reached the peer, or ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(c not in self.received for c in self.acked):
            await asyncio.sleep(0.05)

    def lost(self) -> int:
        return sum(1 for c in self.acked if c not in self.received)

    def duplicated(self) -> int:
        return sum(n - 1 for n in self.received.values() if n > 1)


@dataclasses.dataclass
class Side:
    client: SocketIOClient
    conversation_id: int


async def connect_pairs(
    port: int, pairs: list[Pair], tally: Tally, *, join: bool = True
) -> list[tuple[Side, Side]]:
    """Open two clients per pair (at most 50 handshakes at a time) and join the conversation."""
    gate = asyncio.Semaphore(50)

    async def one(pair: Pair, cookie: str) -> Side:
        async with gate:
            client = await open_client(port, cookie, tally.on_message)
            if join:
                ack = await asyncio.wait_for(
                    client.emit("join", {"conversation_id": pair.conversation_id, "after_seq": 0}),
                    30,
                )
                if not (isinstance(ack, dict) and ack.get("ok")):
                    raise RuntimeError(f"join refused: {ack}")
                # A later configuration reuses the conversation: start after what it holds.
                for message in ack.get("messages", []):
                    tally.last_seq[(id(client), pair.conversation_id)] = int(message["seq"])
            return Side(client, pair.conversation_id)

    sides = await asyncio.gather(
        *(one(p, c) for p in pairs for c in (p.hcp_cookie, p.staff_cookie))
    )
    return [(sides[i], sides[i + 1]) for i in range(0, len(sides), 2)]


async def close_all(sides: list[tuple[Side, Side]]) -> None:
    await asyncio.gather(*(s.client.close() for pair in sides for s in pair))


async def run_saturation(port: int, pairs: list[Pair], seconds: float) -> dict[str, Any]:
    """Each side keeps one message outstanding: the next goes as soon as the last is acked."""
    tally = Tally()
    sides = await connect_pairs(port, pairs, tally)
    stop = False

    async def sender(side: Side) -> None:
        while not stop:
            await tally.send(side.client, side.conversation_id)

    tasks = [asyncio.create_task(sender(s)) for pair in sides for s in pair]
    try:
        await asyncio.sleep(min(2.0, seconds / 3))  # warm-up
        tally.measuring = True
        start_count, started = tally.delivered, time.perf_counter()
        await asyncio.sleep(seconds)
        delivered, elapsed = tally.delivered - start_count, time.perf_counter() - started
        tally.measuring = False
        stop = True
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        await tally.drain()
    finally:
        stop = True
        for task in tasks:
            task.cancel()
        await close_all(sides)
    return result(tally, len(pairs), delivered / elapsed)


async def run_human(port: int, pairs: list[Pair], seconds: float) -> dict[str, Any]:
    """Each side sends one message every 2 s, at a random phase."""
    tally = Tally()
    sides = await connect_pairs(port, pairs, tally)
    stop_at = time.perf_counter() + seconds + HUMAN_INTERVAL

    async def sender(side: Side) -> None:
        next_at = time.perf_counter() + random.uniform(0, HUMAN_INTERVAL)  # noqa: S311
        while True:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            if next_at >= stop_at:
                return
            await tally.send(side.client, side.conversation_id)
            next_at += HUMAN_INTERVAL

    tasks = [asyncio.create_task(sender(s)) for pair in sides for s in pair]
    try:
        await asyncio.sleep(HUMAN_INTERVAL)  # every sender has started
        tally.measuring = True
        start_count, started = tally.delivered, time.perf_counter()
        # An overloaded server answers late: give it 30 s, then stop waiting (counted unacked).
        _, pending = await asyncio.wait(tasks, timeout=seconds + 30)
        delivered, elapsed = tally.delivered - start_count, time.perf_counter() - started
        tally.measuring = False
        for task in pending:
            task.cancel()
        await tally.drain()
    finally:
        for task in tasks:
            task.cancel()
        await close_all(sides)
    return result(tally, len(pairs), delivered / elapsed)


async def run_single(port: int, pair: Pair, count: int) -> dict[str, Any]:
    """One client alone sends ``count`` messages, one at a time, 20 ms apart."""
    tally = Tally()
    sides = await connect_pairs(port, [pair], tally)
    try:
        hcp = sides[0][0]
        for i in range(count + 10):
            tally.measuring = i >= 10  # the first ten warm up
            await tally.send(hcp.client, hcp.conversation_id)
            await asyncio.sleep(0.02)
        await tally.drain()
    finally:
        await close_all(sides)
    report = result(tally, 1, None)
    report["ack_p50_ms"] = _round(statistics.median(tally.ack_latencies))
    return report


async def run_idle(server: Server, pairs: list[Pair], connections: int) -> dict[str, Any]:
    """Hold ``connections`` connected, joined, idle clients; RSS of the server before and after.
    Clients go round the pairs (two tabs of the same person when there are fewer users)."""
    warm = Tally()
    sides = await connect_pairs(server.port, pairs[:1], warm)
    await warm.send(sides[0][0].client, sides[0][0].conversation_id)
    await close_all(sides)
    await asyncio.sleep(1)
    before = server.rss_kb()
    needed = (connections + 1) // 2
    chosen = [pairs[i % len(pairs)] for i in range(needed)]
    tally = Tally()
    started = time.perf_counter()
    sides = await connect_pairs(server.port, chosen, tally)
    connect_seconds = time.perf_counter() - started
    try:
        await asyncio.sleep(2)
        after = server.rss_kb()
    finally:
        await close_all(sides)
    held = 2 * len(sides)
    return {
        "connections": held,
        "rss_before_kb": before,
        "rss_after_kb": after,
        "kb_per_connection": round((after - before) / held, 1),
        "connect_per_s": round(held / connect_seconds),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def result(tally: Tally, pairs: int, msgs_per_s: float | None) -> dict[str, Any]:
    return {
        "pairs": pairs,
        "msgs_per_s": None if msgs_per_s is None else round(msgs_per_s),
        "p50_ms": _round(percentile(tally.latencies, 0.50)),
        "p99_ms": _round(percentile(tally.latencies, 0.99)),
        "ack_p50_ms": _round(percentile(tally.ack_latencies, 0.50)),
        "sent": len(tally.sent_at),
        "acked": len(tally.acked),
        "unacked": len(tally.sent_at) - len(tally.acked) - sum(tally.errors.values()),
        "errors": dict(tally.errors),
        "lost": tally.lost(),
        "duplicated": tally.duplicated(),
        "out_of_order": tally.out_of_order,
    }


# --- one side of the comparison ---------------------------------------------------------------
@dataclasses.dataclass
class Plan:
    saturation: list[int]
    human_pairs: int
    idle: int
    seconds: float
    human_seconds: float
    single_count: int
    balanced_pairs: int = 0


async def measure(server: Server, pairs: list[Pair], plan: Plan) -> dict[str, Any]:
    """Every configuration against one running server."""
    port = server.port
    out: dict[str, Any] = {}
    if plan.idle:
        log(f"  {server.name}: {plan.idle} idle connections")
        out["idle"] = await run_idle(server, pairs, plan.idle)
        log(f"    {out['idle']}")
    for n in plan.saturation:
        log(f"  {server.name}: saturation, {n} pairs, {plan.seconds:g} s")
        out[f"saturation-{n}"] = await run_saturation(port, pairs[:n], plan.seconds)
        log(f"    {out[f'saturation-{n}']}")
    if plan.human_pairs:
        log(f"  {server.name}: human rate, {plan.human_pairs} pairs, {plan.human_seconds:g} s")
        out["human"] = await run_human(port, pairs[: plan.human_pairs], plan.human_seconds)
        log(f"    {out['human']}")
    log(f"  {server.name}: one client alone, {plan.single_count} messages")
    out["single"] = await run_single(port, pairs[0], plan.single_count)
    log(f"    {out['single']}")
    return out


async def sign_in_all(port: int, pairs: list[Pair]) -> None:
    """Every user signs in once over HTTP (the server hashes one at a time: two in flight)."""
    gate = asyncio.Semaphore(2)
    done = 0

    async def one(pair: Pair, attr: str, email: str) -> None:
        nonlocal done
        async with gate:
            setattr(pair, attr, await asyncio.to_thread(sign_in, port, email))
        done += 1
        if done % 200 == 0:
            log(f"  {done} signed in")

    await asyncio.gather(
        *(
            one(p, a, e)
            for p in pairs
            for a, e in (("hcp_cookie", p.hcp_email), ("staff_cookie", p.staff_email))
        )
    )


# --- instance and database --------------------------------------------------------------------
@contextlib.contextmanager
def instance(backend: str, database_url: str, redis_url: str) -> Iterator[dict[str, str]]:
    """A temporary instance folder and the environment of a server using it; for PostgreSQL a
    database of its own (dropped afterwards)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        PORTAL_INSTANCE_PATH=str(folder / "instance"),
        SESSION_COOKIE_SECURE="false",
        # Servers listen on free loopback ports; trusted hosts ignore the port.
        PUBLIC_URL="http://127.0.0.1",
        # As `make run`: staff sign in with their password alone (no authenticator app here).
        TWO_FACTOR_REQUIRED="false",
        RATELIMIT_ENABLED="false",  # the per-user chat limit would throttle a saturation run
        # One key for the run (the portal refuses a generated one with a database server).
        SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_hex(32),
        PYTHONUNBUFFERED="1",
    )
    admin = None
    name = ""
    try:
        if backend == "postgresql":
            from sqlalchemy import create_engine, text

            from portal.config import normalize_database_url

            name = f"bench_chat_{uuid.uuid4().hex[:10]}"
            admin = create_engine(
                normalize_database_url(database_url), isolation_level="AUTOCOMMIT"
            )
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            parts = urllib.parse.urlsplit(database_url)
            env["DATABASE_URL"] = urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
            env["REDIS_URL"] = redis_url
            # A pub/sub channel of the run's own: channels ignore the database number, so two
            # runs (or a portal) on the same Redis would otherwise hear each other's messages.
            env["SOCKETIO_CHANNEL"] = name
        yield env
    finally:
        if admin is not None:
            from sqlalchemy import text

            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


async def run_full(env: dict[str, str], pairs: list[Pair], plan: Plan, logs: Path) -> Any:
    python = sys.executable
    server = Server("portal", [python, "wsgi.py"], env, logs)
    try:
        server.wait_healthy()
        log(f"full path: {2 * len(pairs)} users sign in over HTTP")
        started = time.perf_counter()
        await sign_in_all(server.port, pairs)
        log(f"  signed in in {time.perf_counter() - started:.0f}s")
        return await measure(server, pairs, plan)
    except BaseException:
        log(server.tail())
        raise
    finally:
        server.stop()


async def run_bare(env: dict[str, str], pairs: list[Pair], plan: Plan, logs: Path) -> Any:
    bare_env = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    server = Server("bare", [sys.executable, "bench/chat_echo.py"], bare_env, logs)
    try:
        server.wait_healthy()
        log("bare echo")
        # Same conversation ids, no sign-in: the echo accepts anyone.
        anonymous = [Pair(p.conversation_id, p.hcp_email, p.staff_email) for p in pairs]
        return await measure(server, anonymous, plan)
    except BaseException:
        log(server.tail())
        raise
    finally:
        server.stop()


# --- two processes behind haproxy -------------------------------------------------------------
HAPROXY = "/usr/sbin/haproxy"  # Debian's package
HAPROXY_CONFIG = ROOT / "docs" / "deploy" / "haproxy.cfg"
SERVERID = re.compile(r"(?:^|; )SERVERID=([^;]+)")


def find_haproxy() -> str | None:
    return HAPROXY if os.access(HAPROXY, os.X_OK) else shutil.which("haproxy")


def haproxy_configuration(port: int, server_ports: list[int]) -> str:
    """docs/deploy/haproxy.cfg with plain HTTP on ``port``, the bench's host in the health check
    and its two ``server`` lines on ``server_ports``; everything else (leastconn, the SERVERID
    cookie, health checks, redispatch, the WebSocket timeouts) as shipped. No TLS: the one process
    it is compared with is reached without it, and TLS would then be measured with the scaling."""
    text = HAPROXY_CONFIG.read_text()
    # The frontend redirecting port 80 to HTTPS has nothing to redirect to.
    text, found = re.subn(r"^frontend http\n(?:[ \t]+\S.*\n)*\n?", "", text, flags=re.MULTILINE)
    changes = [(found, "frontend http")]
    for before, after in [
        ("bind :443 ssl crt /etc/haproxy/certs/portal.pem alpn http/1.1", f"bind 127.0.0.1:{port}"),
        ("X-Forwarded-Proto https", "X-Forwarded-Proto http"),
        # The portal answers PUBLIC_URL's host only (instance(): 127.0.0.1).
        ("hdr Host portal.example.org", "hdr Host 127.0.0.1"),
        *((f"127.0.0.1:{5000 + n}", f"127.0.0.1:{p}") for n, p in enumerate(server_ports, 1)),
    ]:
        # Whole words only: ``127.0.0.1:5001`` must not match inside ``127.0.0.1:50010``.
        text, found = re.subn(re.escape(before) + r"(?![\w.:/])", after, text)
        changes.append((found, before))
    missing = [what for found, what in changes if found != 1]
    servers = len(re.findall(r"^\s*server\s", text, flags=re.MULTILINE))
    if missing or servers != len(server_ports):
        raise RuntimeError(
            f"{HAPROXY_CONFIG.relative_to(ROOT)} changed: expected once each {missing}, and "
            f"{len(server_ports)} server lines (found {servers})"
        )
    return text


async def run_balanced(
    env: dict[str, str], pairs: list[Pair], seconds: float, logs: Path
) -> dict[str, Any]:
    """Saturation with ``pairs`` through haproxy in front of two ``python wsgi.py`` processes
    (one database, one Redis, one SECRET_KEY), then the same clients against one of those
    processes alone, directly, with the other process and haproxy stopped. Everyone signs in
    through the balancer, whose cookie then pins each user's WebSocket to the process that
    signed them in. A missing haproxy, or a failure, is reported in ``skipped``."""
    out: dict[str, Any] = {
        "pairs": len(pairs),
        "processes": 2,
        "skipped": None,
        "users_per_process": {},
        "balanced": None,
        "one_process": None,
    }
    program = find_haproxy()
    if program is None:
        out["skipped"] = f"haproxy is not installed ({HAPROXY})"
        log(f"balanced: skipped, {out['skipped']}")
        return out
    # As deployed (docs/deploy/portal.env): haproxy is the one proxy hop in front.
    cluster_env = {**env, "TRUSTED_PROXIES": "1"}
    servers = [Server(f"p{n}", [sys.executable, "wsgi.py"], cluster_env, logs) for n in (1, 2)]
    balancer: Server | None = None
    try:
        for server in servers:
            server.wait_healthy()
        port = free_port()
        config = logs / "haproxy.cfg"
        config.write_text(haproxy_configuration(port, [server.port for server in servers]))
        check = subprocess.run(  # noqa: S603 - the system's haproxy on our generated file
            [program, "-c", "-q", "-f", str(config)], capture_output=True, timeout=30, check=False
        )
        if check.returncode:
            raise RuntimeError(f"haproxy -c: {check.stderr.decode(errors='replace')}")
        balancer = Server("haproxy", [program, "-db", "-f", str(config)], env, logs, port=port)
        balancer.wait_healthy()
        signed = [Pair(p.conversation_id, p.hcp_email, p.staff_email) for p in pairs]
        log(f"balanced: {2 * len(signed)} users sign in through haproxy")
        await sign_in_all(port, signed)
        pinned = Counter(
            match.group(1) if (match := SERVERID.search(cookie)) else "none"
            for p in signed
            for cookie in (p.hcp_cookie, p.staff_cookie)
        )
        out["users_per_process"] = dict(sorted(pinned.items()))
        log(f"  users per process: {out['users_per_process']}")
        log(f"  2 processes behind haproxy: saturation, {len(signed)} pairs, {seconds:g} s")
        out["balanced"] = await run_saturation(port, signed, seconds)
        log(f"    {out['balanced']}")
        balancer.stop()
        servers[1].stop()
        log(f"  one process directly: saturation, {len(signed)} pairs, {seconds:g} s")
        out["one_process"] = await run_saturation(servers[0].port, signed, seconds)
        log(f"    {out['one_process']}")
    except Exception as exc:  # reported in the row; the rest of the bench still runs
        for process in (*servers, balancer):
            if process is not None:
                log(f"{process.name}:\n{process.tail()}")
        out["skipped"] = f"failed: {type(exc).__name__}: {exc}"
        log(f"balanced: {out['skipped']}")
    finally:
        for process in (balancer, *servers):
            if process is not None:
                process.stop()
    return out


# --- reporting --------------------------------------------------------------------------------
EMPTY: dict[str, Any] = dict.fromkeys(
    ("pairs", "msgs_per_s", "p50_ms", "p99_ms", "ack_p50_ms", "lost", "duplicated")
) | {"errors": {}}
EMPTY_IDLE: dict[str, Any] = dict.fromkeys(
    ("rss_before_kb", "rss_after_kb", "kb_per_connection")
) | {"connections": 0}


def rows(
    backend: str, full: dict[str, Any] | None, bare: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """One JSON-ready object per configuration, with the contract fields first. A side that did
    not run (``--only``) reads as nulls."""
    keys = list(full or bare or {})
    out = []
    for key in keys:
        if key == "idle":
            continue
        f = (full or {}).get(key) or EMPTY
        b = (bare or {}).get(key) or EMPTY
        ratio = (
            round(f["msgs_per_s"] / b["msgs_per_s"], 2)
            if f["msgs_per_s"] and b["msgs_per_s"]
            else None
        )
        out.append(
            {
                "config": key.split("-")[0],
                "backend": backend,
                "pairs": f["pairs"] or b["pairs"],
                "msgs_per_s": f["msgs_per_s"],
                "p50_ms": f["p50_ms"],
                "p99_ms": f["p99_ms"],
                "bare_msgs_per_s": b["msgs_per_s"],
                "lost": (f["lost"] or 0) + (b["lost"] or 0),
                "duplicated": (f["duplicated"] or 0) + (b["duplicated"] or 0),
                "ratio": ratio,
                "ack_p50_ms": f["ack_p50_ms"],
                "bare_p50_ms": b["p50_ms"],
                "bare_p99_ms": b["p99_ms"],
                "bare_ack_p50_ms": b["ack_p50_ms"],
                "full": f,
                "bare": b,
            }
        )
    if "idle" in keys:
        f = (full or {}).get("idle") or EMPTY_IDLE
        b = (bare or {}).get("idle") or EMPTY_IDLE
        held = f["connections"] or b["connections"]
        out.append(
            {
                "config": "idle",
                "backend": backend,
                "pairs": held // 2,
                "msgs_per_s": None,
                "p50_ms": None,
                "p99_ms": None,
                "bare_msgs_per_s": None,
                "lost": 0,
                "duplicated": 0,
                "connections": held,
                "kb_per_connection": f["kb_per_connection"],
                "bare_kb_per_connection": b["kb_per_connection"],
                "full": f,
                "bare": b,
            }
        )
    return out


def balanced_row(backend: str, balanced: dict[str, Any]) -> dict[str, Any]:
    """The ``balanced`` configuration: the contract fields read as for a saturation row, with
    two processes behind haproxy as the measured side and one process directly as the reference
    (``balanced_ratio``); there is no bare side."""
    two = balanced["balanced"] or EMPTY
    one = balanced["one_process"] or EMPTY
    ratio = (
        round(two["msgs_per_s"] / one["msgs_per_s"], 2)
        if two["msgs_per_s"] and one["msgs_per_s"]
        else None
    )
    return {
        "config": "balanced",
        "backend": backend,
        "pairs": balanced["pairs"],
        "msgs_per_s": two["msgs_per_s"],
        "p50_ms": two["p50_ms"],
        "p99_ms": two["p99_ms"],
        "bare_msgs_per_s": None,
        "lost": (two["lost"] or 0) + (one["lost"] or 0),
        "duplicated": (two["duplicated"] or 0) + (one["duplicated"] or 0),
        "out_of_order": two.get("out_of_order", 0) + one.get("out_of_order", 0),
        "ack_p50_ms": two["ack_p50_ms"],
        "one_process_msgs_per_s": one["msgs_per_s"],
        "one_process_p50_ms": one["p50_ms"],
        "one_process_p99_ms": one["p99_ms"],
        "one_process_ack_p50_ms": one["ack_p50_ms"],
        "balanced_ratio": ratio,
        "processes": balanced["processes"],
        "users_per_process": balanced["users_per_process"],
        "skipped": balanced["skipped"],
        "balanced": two,
        "one_process": one,
    }


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return format("-", spec.split(".")[0].rstrip("df"))
    return format(value, spec)


def table(backend: str, reports: list[dict[str, Any]]) -> str:
    header = (
        f"{'config':<11} {'pairs':>5} {'full msg/s':>10} {'bare msg/s':>10} {'ratio':>5} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'bare p50':>8} {'bare p99':>8} {'ack p50':>7} "
        f"{'lost':>4} {'dup':>3} {'errors':>6}"
    )
    lines = [header, "-" * len(header)]
    for r in reports:
        if r["config"] == "idle":
            continue
        if r["config"] == "balanced":
            lines.append(balanced_line(r))
            continue
        errors = sum(r["full"]["errors"].values()) + sum(r["bare"]["errors"].values())
        lines.append(
            f"{r['config']:<11} {r['pairs']:>5} {_fmt(r['msgs_per_s'], '>10')} "
            f"{_fmt(r['bare_msgs_per_s'], '>10')} {_fmt(r['ratio'], '>5.2f')} "
            f"{_fmt(r['p50_ms'], '>7.2f')} {_fmt(r['p99_ms'], '>7.2f')} "
            f"{_fmt(r['bare_p50_ms'], '>8.2f')} {_fmt(r['bare_p99_ms'], '>8.2f')} "
            f"{_fmt(r['ack_p50_ms'], '>7.2f')} {r['lost']:>4} {r['duplicated']:>3} {errors:>6}"
        )
    for r in reports:
        if r["config"] == "idle":
            f, b = r["full"], r["bare"]
            line = f"idle: {r['connections']} connections held:"
            if f["rss_before_kb"] is not None:
                line += (
                    f" portal {f['rss_before_kb'] / 1024:.0f} -> {f['rss_after_kb'] / 1024:.0f} MB"
                    f" RSS = {f['kb_per_connection']:.1f} KB per connection (target <= 100);"
                )
            if b["rss_before_kb"] is not None:
                line += f" bare echo {b['kb_per_connection']:.1f} KB per connection"
            lines.append(line)
        elif r["config"] == "balanced" and r["skipped"] is None:
            users = ", ".join(f"{k} {v}" for k, v in r["users_per_process"].items())
            lines.append(
                f"balanced: {r['pairs']} pairs through haproxy to {r['processes']} processes "
                f"{_fmt(r['msgs_per_s'], '')} msg/s (p50 {_fmt(r['p50_ms'], '.2f')} ms) vs one "
                f"process directly {_fmt(r['one_process_msgs_per_s'], '')} msg/s (p50 "
                f"{_fmt(r['one_process_p50_ms'], '.2f')} ms) = {_fmt(r['balanced_ratio'], '.2f')}x;"
                f" users per process: {users}"
            )
    return "\n".join(lines)


def balanced_line(r: dict[str, Any]) -> str:
    """The ``balanced`` row of the table: two processes behind haproxy in the full columns (the
    comparison with one process is the line under the table); lost, dup and errors of both runs."""
    if r["skipped"] is not None:
        return f"{r['config']:<11} {r['pairs']:>5} skipped: {r['skipped']}"
    errors = sum(r["balanced"]["errors"].values()) + sum(r["one_process"]["errors"].values())
    return (
        f"{r['config']:<11} {r['pairs']:>5} {_fmt(r['msgs_per_s'], '>10')} {'-':>10} {'-':>5} "
        f"{_fmt(r['p50_ms'], '>7.2f')} {_fmt(r['p99_ms'], '>7.2f')} {'-':>8} {'-':>8} "
        f"{_fmt(r['ack_p50_ms'], '>7.2f')} {r['lost']:>4} {r['duplicated']:>3} {errors:>6}"
    )


def verdicts(backend: str, reports: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in reports:
        if r["config"] == "saturation" and r["ratio"] is not None:
            goal = TARGETS[backend]
            word = "meets" if r["ratio"] >= goal else "MISSES"
            out.append(f"saturation {r['pairs']} pairs: {r['ratio']:.2f}x bare {word} {goal}x")
        elif r["config"] == "human" and r["p99_ms"] is not None:
            word = "meets" if r["p99_ms"] <= 20 else "MISSES"
            out.append(f"human rate {r['pairs']} pairs: p99 {r['p99_ms']:.1f} ms {word} 20 ms")
        elif r["config"] == "single" and r["ack_p50_ms"] is not None:
            word = "meets" if r["ack_p50_ms"] <= 5 else "MISSES"
            out.append(f"one client: median ack {r['ack_p50_ms']:.2f} ms {word} 5 ms")
        elif r["config"] == "idle" and r["kb_per_connection"] is not None:
            word = "meets" if r["kb_per_connection"] <= 100 else "MISSES"
            out.append(f"idle: {r['kb_per_connection']:.1f} KB/connection {word} 100 KB")
        elif r["config"] == "balanced":
            # Reported, no target (issue 13: "reported by the bench").
            if r["balanced_ratio"] is not None:
                out.append(
                    f"balanced {r['pairs']} pairs: {r['processes']} processes behind haproxy "
                    f"{r['balanced_ratio']:.2f}x one process (no target)"
                )
            else:
                out.append(f"balanced {r['pairs']} pairs: no ratio ({r['skipped']})")
    lost = sum(r["lost"] for r in reports)
    duplicated = sum(r["duplicated"] for r in reports)
    out.append(f"lost {lost}, duplicated {duplicated} over every run")
    return out


# --- main -------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pairs", type=int, nargs="+", help="saturation pair counts (default 10 100); the "
        "human-rate run then uses the largest, and the idle run twice as many clients",
    )  # fmt: skip
    parser.add_argument("--seconds", type=float, help="measured seconds per run (default 10)")
    parser.add_argument("--human-pairs", type=int, help="pairs at the human rate (default 500)")
    parser.add_argument("--idle", type=int, help="idle connections held (default 2000)")
    parser.add_argument(
        "--balanced-pairs", type=int, help="saturation pairs through haproxy to two processes, "
        "and against one process, with --backend postgresql (default 50; 0 skips it)",
    )  # fmt: skip
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_PG_URL))
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true", help="one JSON object per configuration")
    parser.add_argument(
        "--only", choices=("full", "bare"), help="run one side only (the other's fields are null)"
    )
    args = parser.parse_args(argv)
    if args.pairs and min(args.pairs) < 1:
        parser.error("--pairs must be positive")
    if args.balanced_pairs is not None and args.balanced_pairs < 0:
        parser.error("--balanced-pairs must be 0 or more")
    if args.balanced_pairs and args.backend != "postgresql":
        parser.error("--balanced-pairs needs --backend postgresql (two processes share Redis)")
    return args


def plan_for(args: argparse.Namespace) -> Plan:
    saturation = args.pairs or [10, 100]
    seconds = args.seconds or 10.0
    human = args.human_pairs if args.human_pairs is not None else (
        max(args.pairs) if args.pairs else 500
    )  # fmt: skip
    idle = args.idle if args.idle is not None else (2 * max(args.pairs) if args.pairs else 2000)
    return Plan(
        saturation=saturation,
        human_pairs=human,
        idle=idle,
        seconds=seconds,
        human_seconds=max(seconds, 6.0) if args.seconds else 20.0,
        single_count=200,
        balanced_pairs=(
            0 if args.backend != "postgresql"
            else 50 if args.balanced_pairs is None
            else args.balanced_pairs
        ),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    random.seed(args.seed)
    plan = plan_for(args)
    population = max([*plan.saturation, plan.human_pairs, plan.balanced_pairs, 1])
    with (
        instance(args.backend, args.database_url, args.redis_url) as env,
        tempfile.TemporaryDirectory(prefix="bench-chat-logs-") as logs,
    ):
        log(f"{args.backend}: init-db, then {population} pairs")
        flask = str(Path(sys.executable).with_name("flask"))
        subprocess.run(  # noqa: S603 - our own virtualenv's flask
            [flask, "--app", "wsgi", "init-db"], cwd=ROOT, env=env, check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        with environment(env):
            pairs = create_pairs(population, log)
        full = bare = balanced = None
        if args.only != "bare":
            full = asyncio.run(run_full(env, pairs, plan, Path(logs)))
            if plan.balanced_pairs:
                balanced = asyncio.run(
                    run_balanced(env, pairs[: plan.balanced_pairs], plan.seconds, Path(logs))
                )
        if args.only != "full":
            bare = asyncio.run(run_bare(env, pairs, plan, Path(logs)))
    reports = rows(args.backend, full, bare)
    if balanced is not None:
        reports.append(balanced_row(args.backend, balanced))
    if args.json:
        for report in reports:
            print(json.dumps(report))
    else:
        print(f"{args.backend}, {os.cpu_count()} CPUs, {plan.seconds:g} s per saturation run")
        print(table(args.backend, reports))
        for line in verdicts(args.backend, reports):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
