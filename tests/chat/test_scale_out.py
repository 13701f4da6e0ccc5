"""Scale-out: two server processes on two ports, one PostgreSQL database and one Redis. A user on
one process chats with a user on the other: messages in order, presence and typing included. A
sign-out on one process closes the session's socket held by the other.

In CI (``CI=true``) a missing PostgreSQL or Redis fails these tests instead of skipping them.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.chat.test_live import (
    NAMESPACE,
    TIMEOUT,
    ChatClient,
    portal_env,
    prepare_database,
    socketio_client,
    start_server,
    stop_server,
)
from tests.conftest import IN_CI, PG_URL, _pg_sqlalchemy_url


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh schema on the PostgreSQL test server, as a URL the portal takes."""
    if not PG_URL:
        if IN_CI:
            pytest.fail("TEST_DATABASE_URL must be set in CI")
        pytest.skip("TEST_DATABASE_URL is not set")
    schema = f"chat_scale_{uuid.uuid4().hex[:8]}"
    admin = create_engine(_pg_sqlalchemy_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def module_redis_url() -> str:
    # The same rules as conftest's ``redis_url``, for a module-scoped fixture.
    from tests.conftest import REDIS_URL

    if not REDIS_URL:
        if IN_CI:
            pytest.fail("TEST_REDIS_URL must be set in CI")
        pytest.skip("TEST_REDIS_URL is not set")
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"TEST_REDIS_URL is set but Redis is unreachable: {exc}")
    # Connections counted by servers of earlier runs that were killed would look online.
    for key in client.scan_iter("chat:presence:*"):
        client.delete(key)
    return REDIS_URL


@pytest.fixture(scope="module")
def two_servers(
    postgres_url: str, module_redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    instance = tmp_path_factory.mktemp("chat-scale-out")
    env = portal_env(instance, postgres_url, REDIS_URL=module_redis_url)
    prepare_database(env)
    started: list[Any] = []
    try:
        for name in ("a", "b"):
            started.append(start_server(env, instance / f"server-{name}.log"))
        yield started[0][0], started[1][0]
    finally:
        for _base, process in started:
            stop_server(process)


@pytest.fixture
def doctor_and_colleague(two_servers: tuple[str, str]) -> Iterator[tuple[ChatClient, ChatClient]]:
    """The demo HCP on process A and the demo MSL on process B, both following their chat."""
    base_a, base_b = two_servers
    doctor = ChatClient(base_a, "hcp").connect()
    colleague = ChatClient(base_b, "msl")
    try:
        yield doctor, colleague
    finally:
        closing = [threading.Thread(target=c.disconnect) for c in (doctor, colleague)]
        for thread in closing:
            thread.start()
        for thread in closing:
            thread.join(timeout=TIMEOUT)


def _join(client: ChatClient, conversation: dict[str, Any]) -> None:
    ack = client.call("join", {"conversation_id": conversation["id"], "after_seq": 0})
    assert ack["ok"] is True and ack["live"] is True, ack


def test_messages_presence_and_typing_cross_processes(doctor_and_colleague):
    doctor, colleague = doctor_and_colleague
    conversation = doctor.conversation_with("msl")
    msl_id = conversation["peer"]["id"]
    _join(doctor, conversation)

    colleague.connect()  # on the other process
    doctor.wait_for("presence", lambda got: {"user_id": msl_id, "online": True} in got)
    _join(colleague, colleague.conversation_with("hcp"))
    start = conversation["last_seq"]
    sent = [colleague.send(conversation["id"], f"from process B, message {n}") for n in range(20)]
    assert colleague.call("typing", {"conversation_id": conversation["id"]})["ok"] is True

    arrived = doctor.wait_for(
        "message", lambda got: len([m for m in got if m["seq"] > start]) >= len(sent)
    )
    typing = doctor.wait_for("typing", lambda got: len(got) >= 1)
    assert [m for m in arrived if m["seq"] > start] == sent
    assert [m["seq"] for m in sent] == list(range(start + 1, start + 21))
    assert typing == [{"conversation_id": conversation["id"], "user_id": msl_id}]

    colleague.disconnect()
    doctor.wait_for("presence", lambda got: {"user_id": msl_id, "online": False} in got)


def test_replies_cross_back_and_sequences_stay_gap_free(doctor_and_colleague):
    doctor, colleague = doctor_and_colleague
    colleague.connect()
    conversation = doctor.conversation_with("msl")
    _join(doctor, conversation)
    _join(colleague, colleague.conversation_with("hcp"))
    start = conversation["last_seq"]

    failures: list[BaseException] = []

    def send_many(client: ChatClient, who: str) -> None:
        try:
            for n in range(10):
                client.send(conversation["id"], f"{who} {n}")
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [
        threading.Thread(target=send_many, args=(doctor, "hcp")),
        threading.Thread(target=send_many, args=(colleague, "msl")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=4 * TIMEOUT)
    assert not failures, failures

    expected = list(range(start + 1, start + 21))
    for client in (doctor, colleague):
        got = client.wait_for(
            "message", lambda got: len([m for m in got if m["seq"] > start]) >= len(expected)
        )
        # Every number once, none missing. Live events from two processes may arrive out of
        # ``seq`` order (issue 13: clients order by ``seq``); gaps or duplicates would be loss.
        assert sorted(m["seq"] for m in got if m["seq"] > start) == expected


def _sign_out(client: ChatClient, base: str) -> None:
    """Sign ``client``'s browser out through the page's own form, on the server at ``base``."""
    page = client.http.get(f"{base}/", timeout=TIMEOUT)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    assert token is not None, "the page has no sign-out form"
    done = client.http.post(f"{base}/logout", data={"csrf_token": token[1]}, timeout=TIMEOUT)
    assert done.ok and "/login" in done.url, "the sign-out did not go through"


def test_signing_out_on_one_process_disconnects_the_socket_on_the_other(two_servers):
    base_a, base_b = two_servers
    doctor = ChatClient(base_a, "hcp").connect()  # the socket lives on process A
    colleague = ChatClient(base_b, "msl").connect()  # online, so the doctor's sends would batch
    try:
        conversation = doctor.conversation_with("msl")
        _join(doctor, conversation)
        before = doctor.send(conversation["id"], "before signing out")
        cookies = "; ".join(f"{c.name}={c.value}" for c in doctor.http.cookies)

        _sign_out(doctor, base_b)  # the same browser, the same cookie, on process B

        deadline = time.monotonic() + 5
        while doctor.sio.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not doctor.sio.connected, "the socket on process A stayed open after sign-out"
        with pytest.raises(socketio_client.exceptions.SocketIOError):
            doctor.send(conversation["id"], "after signing out")
        # The cookie copied before the sign-out opens no socket on either process.
        for base in (base_a, base_b):
            thief = socketio_client.Client(reconnection=False)
            with pytest.raises(socketio_client.exceptions.ConnectionError):
                thief.connect(
                    base,
                    namespaces=[NAMESPACE],
                    transports=["websocket"],
                    headers={"Cookie": cookies, "User-Agent": doctor.http.headers["User-Agent"]},
                    wait_timeout=TIMEOUT,
                )
            thief.disconnect()
        # Nothing from the doctor was stored after the sign-out, as the other side reads it.
        replay = colleague.call(
            "join", {"conversation_id": conversation["id"], "after_seq": before["seq"] - 1}
        )
        assert replay["ok"] is True
        assert [m["body"] for m in replay["messages"] if m["sender_id"] == before["sender_id"]] == [
            "before signing out"
        ]
    finally:
        for client in (doctor, colleague):
            client.disconnect()


def test_a_session_revoked_behind_the_sockets_back_refuses_its_next_event(
    two_servers, postgres_url
):
    """No disconnect is sent at all (the row is revoked in the database directly): the next
    event on the socket reads the session, is refused, and its socket is closed after the
    answer, on the real server."""
    base_a, _base_b = two_servers
    doctor = ChatClient(base_a, "hcp").connect()
    engine = create_engine(_pg_sqlalchemy_url(postgres_url))
    try:
        conversation = doctor.conversation_with("msl")
        with engine.begin() as connection:
            revoked = connection.execute(
                text(
                    "UPDATE user_sessions SET revoked_at = now(), revoked_reason = 'test' "
                    "WHERE revoked_at IS NULL AND user_id = "
                    "(SELECT id FROM users WHERE email = 'hcp@example.com')"
                )
            )
            assert revoked.rowcount >= 1

        ack = doctor.call(
            "send",
            {"conversation_id": conversation["id"], "client_id": str(uuid.uuid4()), "body": "x"},
        )

        assert ack["ok"] is False and ack["error"] == "forbidden", ack
        deadline = time.monotonic() + 5
        while doctor.sio.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not doctor.sio.connected
    finally:
        doctor.disconnect()
        engine.dispose()
