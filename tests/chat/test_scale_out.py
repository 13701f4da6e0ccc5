"""Scale-out: two server processes on two ports, one PostgreSQL database and one Redis. A user on
one process chats with a user on the other: messages in order, presence and typing included.

In CI (``CI=true``) a missing PostgreSQL or Redis fails these tests instead of skipping them.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.chat.test_live import (
    TIMEOUT,
    ChatClient,
    portal_env,
    prepare_database,
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
