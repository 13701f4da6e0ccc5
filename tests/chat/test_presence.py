"""Presence heals, and nothing is missed silently, when server processes or Redis go away.

Every test here runs on a Redis server of its own (``redis-server`` on a free loopback port,
killed afterwards), so that it can be flushed and restarted; heartbeats are fast (0.2 s, expiry
1 s) so that healing takes a second, not the production 20.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import func, select

from chat import messages, presence
from chat.drafts import Draft
from portal import redis_pool, redis_registry, session_sockets
from portal.extensions import db, limiter, socketio
from portal.models import Role, UserSession
from portal.models.mail import OutboxMail
from portal.realtime import MessageQueue
from tests.chat.factories import active_conversation, chat_pair
from tests.chat.test_events import Socket
from tests.conftest import IN_CI, IsolatedClient, _free_port, login

HEARTBEAT = 0.2  # seconds, in these tests (PRESENCE_HEARTBEAT_SECONDS)
EXPIRY = 1  # seconds (PRESENCE_EXPIRY_SECONDS)
WAIT = 10.0  # the longest any wait here may take
CHANNEL = os.environ["SOCKETIO_CHANNEL"]  # this test process's live-event channel (conftest)


class OwnRedis:
    """A ``redis-server`` of the test's own, without persistence, that can be restarted."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.folder = folder
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        options = {"port": self.port, "bind": "127.0.0.1", "save": "", "appendonly": "no"}
        arguments = [part for key, value in options.items() for part in (f"--{key}", str(value))]
        self.process = subprocess.Popen(
            ["redis-server", *arguments, "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = redis.Redis.from_url(self.url, socket_timeout=1)
        deadline = time.monotonic() + WAIT
        while True:
            try:
                probe.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            finally:
                probe.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=WAIT)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2, decode_responses=True)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        if IN_CI:
            pytest.fail("redis-server must be installed in CI")
        pytest.skip("redis-server is not installed")
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def backend() -> str:
    # Presence lives in Redis: one database backend is enough.
    return "sqlite"


@pytest.fixture
def app_config(app_config: dict[str, Any], own_redis: OwnRedis) -> dict[str, Any]:
    config = {**app_config, "REDIS_URL": own_redis.url, "RATELIMIT_STORAGE_URI": own_redis.url}
    config.setdefault("PRESENCE_HEARTBEAT_SECONDS", HEARTBEAT)  # unless the test marks another
    config.setdefault("PRESENCE_EXPIRY_SECONDS", EXPIRY)
    return config


@pytest.fixture(autouse=True)
def test_client_beside_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flask-SocketIO's test client refuses to work beside a message queue: events from other
    processes would reach it only asynchronously. The queue hands this process's own events to
    its sockets directly, as the in-memory manager does, and these tests wait for what comes
    through Redis, so the refusal is lifted here."""
    import flask_socketio.test_client

    monkeypatch.setattr(flask_socketio.test_client, "PubSubManager", type("NoQueue", (), {}))


@pytest.fixture
def opened(app: Flask) -> Iterator[list[Socket]]:
    sockets: list[Socket] = []
    yield sockets
    for socket in sockets:
        socket.disconnect()
    # Stop this app's heartbeat and message-queue subscriber: the Redis they talk to is gone next.
    redis_registry.stop(app)
    manager = socketio.server.manager
    if isinstance(manager, MessageQueue):
        manager.close()
    redis_pool.close(app)


def connect(app: Flask, user: Any, opened: list[Socket]) -> Socket:
    app.test_client_class = IsolatedClient
    client = app.test_client()
    assert login(client, user.email).status_code == 302
    socket = Socket(app, client)
    assert socket.connected
    opened.append(socket)
    return socket


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def scalar(statement: Any) -> Any:
    db.session.expire_all()
    return db.session.scalar(statement)


def mails_to(address: str) -> int:
    return int(scalar(select(func.count()).select_from(OutboxMail).where(OutboxMail.to == address)))


def send(socket: Socket, conversation_id: int, body: str) -> dict[str, Any]:
    ack = socket.emit(
        "send", {"conversation_id": conversation_id, "client_id": str(uuid.uuid4()), "body": body}
    )
    assert ack["ok"] is True, ack
    return ack  # type: ignore[no-any-return]


def pretend_a_process_holds(store: redis.Redis, node: str, user_id: int, sid: str) -> str:
    """Write what a server process ``node`` writes for a socket of ``user_id``, heartbeat
    included; returns the heartbeat's key."""
    key = f"chat:presence:{user_id}"
    heartbeat = redis_registry.HEARTBEAT.format(node)
    store.set(heartbeat, "1", ex=60)
    store.sadd(redis_registry.NODES, node)
    store.sadd(key, sid)
    store.sadd(redis_registry.INDEX.format(node), f"{key}\n{sid}")
    return heartbeat


# --- a process that dies ----------------------------------------------------------------------
def test_a_dead_processes_sockets_are_swept_and_the_peer_is_told_offline(app, opened, own_redis):
    hcp, msl, _territory = chat_pair(Role.MSL)
    conversation = active_conversation(hcp, msl)
    store = own_redis.client()
    # The MSL's socket is held by another server process, alive for now.
    heartbeat = pretend_a_process_holds(store, "other-process", msl.id, "sid-of-the-msl")
    doctor = connect(app, hcp, opened)
    assert presence.is_online(msl.id)
    send(doctor, conversation.id, "Are you there?")
    assert mails_to(msl.email) == 0  # online: no "new message" e-mail

    # That process dies: nothing refreshes its heartbeat, which expires like any other.
    store.pexpire(heartbeat, 300)
    died = time.monotonic()

    wait_for(
        lambda: {"user_id": msl.id, "online": False} in doctor.events("presence"),
        "the doctor to hear that the MSL went offline",
    )
    took = time.monotonic() - died
    # The heartbeat's expiry plus at most one sweep period (by default 15 + 5 s, well under 30).
    print(f"offline {took:.2f} s after the heartbeat stopped")
    assert took < 0.3 + EXPIRY + 2 * HEARTBEAT + 5  # slack for a loaded machine
    assert not presence.is_online(msl.id)
    assert presence.is_online(hcp.id)  # this process's own sockets are never swept
    assert store.smembers(redis_registry.NODES) == {redis_registry.node_id(app)}
    assert not store.exists(redis_registry.INDEX.format("other-process"))
    # Offline now: the next message sends the e-mail, as after a disconnect.
    send(doctor, conversation.id, "I'll write to you then.")
    assert mails_to(msl.email) == 1


def test_a_dead_processes_session_bindings_are_swept_too(app, opened, own_redis):
    connect(app, chat_pair(Role.MSL)[0], opened)  # this process beats
    store = own_redis.client()
    key = "portal:session-sockets:" + "s" * 64
    store.set(redis_registry.HEARTBEAT.format("gone"), "1", px=300)
    store.sadd(redis_registry.NODES, "gone")
    store.sadd(key, "/chat sid-on-the-dead-process")
    store.sadd(redis_registry.INDEX.format("gone"), f"{key}\n/chat sid-on-the-dead-process")
    assert session_sockets.sockets_of("s" * 64) == [("/chat", "sid-on-the-dead-process")]

    wait_for(lambda: session_sockets.sockets_of("s" * 64) == [], "the sweep")


def test_each_entry_of_a_dead_process_is_swept_once_whoever_sweeps(app, opened, own_redis):
    hcp, msl, _territory = chat_pair(Role.MSL)
    active_conversation(hcp, msl)
    store = own_redis.client()
    pretend_a_process_holds(store, "gone", msl.id, "sid-1")
    pretend_a_process_holds(store, "gone", msl.id, "sid-2")
    store.delete(redis_registry.HEARTBEAT.format("gone"))
    node = redis_registry._node(app)
    client = redis_pool.client(app)
    assert client is not None

    # Two sweepers racing (the lock normally lets one through): each entry goes once.
    first = node._sweep_node(client, "gone")
    second = node._sweep_node(client, "gone")

    assert first == [(f"chat:presence:{msl.id}", False)] and second == []
    assert store.scard(f"chat:presence:{msl.id}") == 0


def test_a_process_that_stops_gracefully_sweeps_itself(app, opened, own_redis):
    hcp, msl, _territory = chat_pair(Role.MSL)
    active_conversation(hcp, msl)
    connect(app, msl, opened)
    store = own_redis.client()
    node = redis_registry.node_id(app)
    assert store.sismember(f"chat:presence:{msl.id}", presence.sids_of(msl.id)[0])
    published: list[str] = []
    listener = store.pubsub(ignore_subscribe_messages=True)
    listener.subscribe(CHANNEL)  # as another process's subscriber
    wait_for(lambda: store.pubsub_numsub(CHANNEL)[0][1] == 2, "both subscribers")

    redis_registry.stop(app)  # what SIGTERM (or any normal exit) runs

    assert store.scard(f"chat:presence:{msl.id}") == 0
    assert not store.exists(redis_registry.HEARTBEAT.format(node))
    assert not store.exists(redis_registry.INDEX.format(node))
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and not any('"presence"' in p for p in published):
        message = listener.get_message(timeout=0.1)
        if message:
            published.append(message["data"])
    # The offline went through the message queue, to the peers on every process.
    assert any('"presence"' in p and '"online": false' in p for p in published), published
    listener.close()


# --- Redis restarted or flushed -------------------------------------------------------------
def test_after_redis_loses_everything_each_process_registers_its_sockets_again(
    app, opened, own_redis
):
    hcp, msl, _territory = chat_pair(Role.MSL)
    active_conversation(hcp, msl)
    doctor = connect(app, hcp, opened)
    connect(app, msl, opened)
    record = scalar(select(UserSession).where(UserSession.user_id == hcp.id))
    bound = session_sockets.sockets_of(record.id)
    assert len(bound) == 1
    heard_before = len(doctor.events("presence"))

    own_redis.client().flushdb()  # what a Redis restart without persistence leaves
    assert not presence.is_online(hcp.id) and not presence.is_online(msl.id)
    assert session_sockets.sockets_of(record.id) == []

    wait_for(
        lambda: presence.online_among([hcp.id, msl.id]) == {hcp.id, msl.id},
        "the next heartbeat to count both users again",
    )
    assert session_sockets.sockets_of(record.id) == bound
    # The peer hears "online" again (harmless if it never heard "offline").
    wait_for(
        lambda: {"user_id": msl.id, "online": True} in doctor.events("presence")[heard_before:],
        "the doctor to hear the MSL is online",
    )


def test_while_redis_is_down_presence_answers_from_this_process(app, opened, own_redis):
    hcp, msl, _territory = chat_pair(Role.MSL)
    active_conversation(hcp, msl)
    connect(app, hcp, opened)
    own_redis.stop()

    assert presence.is_online(hcp.id)  # this process's own sockets, not an error
    assert presence.online_among([hcp.id, msl.id]) == {hcp.id}
    socket = connect(app, msl, opened)  # connecting still works
    assert presence.is_online(msl.id)

    own_redis.start()  # empty: every key is gone
    wait_for(lambda: own_redis.client().scard(f"chat:presence:{msl.id}"), "the heartbeat to heal")
    socket.disconnect()
    assert not presence.is_online(msl.id)


# --- bursts -----------------------------------------------------------------------------------
# No heartbeat during the burst: a heartbeat racing a connect may be the one to report it.
@pytest.mark.app_config(
    REDIS_MAX_CONNECTIONS=10,
    RATELIMIT_ENABLED=True,
    PRESENCE_HEARTBEAT_SECONDS=60,
    CHAT_RATE_LIMIT="1000 per minute",
)
def test_a_burst_of_150_calls_waits_for_a_connection_instead_of_failing(app, opened):
    failures: list[BaseException] = []

    def one(n: int) -> None:
        try:
            with app.app_context():
                assert presence.connected(n, f"sid-{n}") is True
                messages.check_rate(n % 3 + 1)  # what every chat send counts first
                assert presence.is_online(n)
                assert presence.disconnected(n, f"sid-{n}") is True
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(1, 151)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT * 3)

    assert failures == []
    shared = redis_pool.client(app)
    assert shared is not None
    pool = shared.connection_pool
    assert isinstance(pool, redis.BlockingConnectionPool) and pool.max_connections == 10
    # The chat send limit, the sign-in and route throttles count on the same pool.
    chat_limit = app.extensions["chat.rate_limiter"].storage
    assert chat_limit.storage.connection_pool is pool
    assert limiter.storage.storage.connection_pool is pool  # type: ignore[attr-defined]


# --- nothing silently missed ------------------------------------------------------------------
def test_sockets_are_told_to_resync_after_the_message_queue_reconnects(app, opened, own_redis):
    hcp = chat_pair(Role.MSL)[0]
    doctor = connect(app, hcp, opened)
    store = own_redis.client()
    wait_for(lambda: store.pubsub_numsub(CHANNEL)[0][1] == 1, "the subscriber")
    assert doctor.events("resync") == []

    own_redis.stop()
    # Publishing while Redis is down never fails the caller (a send's after-commit emit).
    socketio.emit("presence", {"user_id": 0, "online": True}, to="nobody", namespace="/chat")
    own_redis.start()

    wait_for(lambda: doctor.events("resync"), "resync")
    assert doctor.events("resync") == [{"reason": "reconnected"}]
    assert doctor.connected


def test_a_publish_that_failed_tells_the_other_processes_to_resync(
    app, opened, own_redis, monkeypatch
):
    hcp = chat_pair(Role.MSL)[0]
    connect(app, hcp, opened)  # starts this process's queue
    manager = socketio.server.manager
    assert isinstance(manager, MessageQueue)
    other = own_redis.client().pubsub(ignore_subscribe_messages=True)
    other.subscribe(CHANNEL)  # another process's subscriber
    publish = manager.publisher.publish
    failed: list[str] = []

    def fail_once(channel: str, message: str) -> Any:
        if not failed:
            failed.append(message)
            raise redis.ConnectionError("Redis went away")
        return publish(channel, message)

    monkeypatch.setattr(manager.publisher, "publish", fail_once)

    socketio.emit("presence", {"user_id": 0, "online": True}, to="nobody", namespace="/chat")

    assert failed  # the emit returned all the same

    def resync_heard() -> bool:
        message = other.get_message(timeout=0.1)
        return bool(message) and '"resync"' in message["data"] and '"missed"' in message["data"]

    wait_for(resync_heard, "a resync for the other processes")
    other.close()


def test_a_committed_batch_is_published_in_one_round_trip_in_order(
    app, opened, own_redis, monkeypatch
):
    hcp, msl, _territory = chat_pair(Role.MSL)
    conversation = active_conversation(hcp, msl)
    connect(app, hcp, opened)  # starts this process's queue
    manager = socketio.server.manager
    assert isinstance(manager, MessageQueue)
    other = own_redis.client().pubsub(ignore_subscribe_messages=True)
    other.subscribe(CHANNEL)  # another process's subscriber
    wait_for(lambda: other.get_message(timeout=0.05) is None, "the subscription")
    round_trips: list[str] = []
    single, pipeline = manager.publisher.publish, manager.publisher.pipeline

    def publish(*args: Any, **kwargs: Any) -> Any:
        round_trips.append("publish")
        return single(*args, **kwargs)

    def piped(*args: Any, **kwargs: Any) -> Any:
        pipe = pipeline(*args, **kwargs)
        execute = pipe.execute

        def counted(*args: Any, **kwargs: Any) -> Any:
            names = {command[0] for command, _options in pipe.command_stack}
            if names == {"PUBLISH"}:  # presence asks Redis through a pipeline too
                round_trips.append(f"pipeline of {len(pipe.command_stack)}")
            return execute(*args, **kwargs)

        pipe.execute = counted
        return pipe

    monkeypatch.setattr(manager.publisher, "publish", publish)
    monkeypatch.setattr(manager.publisher, "pipeline", piped)
    drafts = [
        Draft(sender.id, conversation.id, str(uuid.uuid4()), f"Message {n}.")
        for n, sender in enumerate((hcp, msl, hcp))
    ]

    outcomes = messages.send_many(drafts)

    assert [o.error for o in outcomes] == [None, None, None]
    assert round_trips == ["pipeline of 3"]
    heard: list[int] = []

    def all_heard() -> bool:
        message = other.get_message(timeout=0.1)
        if message and '"message"' in message["data"]:
            heard.append(json.loads(message["data"])["data"][0]["seq"])
        return len(heard) == 3

    wait_for(all_heard, "the three messages on the queue")
    assert heard == [1, 2, 3]
    other.close()


# --- a real server process -------------------------------------------------------------------
def test_a_server_process_stopped_with_sigterm_sweeps_itself_at_once(app, own_redis, tmp_path):
    """``python wsgi.py`` (gevent) holding the MSL's socket is stopped with SIGTERM: it exits
    cleanly, having removed its sockets and told the MSL's peers "offline" through the queue, at
    once, although its heartbeat would have taken a minute to expire."""
    from tests.chat import test_live
    from tests.factories import _hasher_for

    hcp, msl, _territory = chat_pair(Role.MSL)
    active_conversation(hcp, msl)
    msl.email = f"msl-{uuid.uuid4().hex[:8]}@example.com"
    msl.password_hash = _hasher_for("cheapest").hash(test_live.PASSWORD)  # ChatClient's
    db.session.commit()
    env = test_live.portal_env(
        tmp_path,
        app.config["SQLALCHEMY_DATABASE_URI"],  # the server shares this test's database
        REDIS_URL=own_redis.url,
        PRESENCE_EXPIRY_SECONDS="60",
    )
    base, server = test_live.start_server(env, tmp_path / "server.log")
    colleague = None
    try:
        colleague = test_live.ChatClient(base, msl.email.split("@")[0]).connect()
        store = own_redis.client()
        wait_for(lambda: store.scard(f"chat:presence:{msl.id}") == 1, "the socket counted")
        assert len(store.smembers(redis_registry.NODES)) == 1
        queue = store.pubsub(ignore_subscribe_messages=True)
        queue.subscribe(CHANNEL)  # as another process's subscriber
        wait_for(lambda: store.pubsub_numsub(CHANNEL)[0][1] == 2, "the subscription")

        server.terminate()
        assert server.wait(timeout=WAIT) == 0  # a clean exit, not death by the signal

        assert store.scard(f"chat:presence:{msl.id}") == 0
        assert store.smembers(redis_registry.NODES) == set()
        published = []
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:  # what was published before the exit is there
            message = queue.get_message(timeout=0.1)
            if message is not None:
                published.append(message["data"])
        offline = f'"user_id": {msl.id}, "online": false'
        assert any('"presence"' in p and offline in p for p in published), published
        queue.close()
    finally:
        if colleague is not None:
            colleague.sio.disconnect()
        if server.poll() is None:
            server.kill()
            server.wait(timeout=WAIT)
