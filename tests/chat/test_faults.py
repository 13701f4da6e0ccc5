"""Faults under a running conversation, on the deployment of docs/deploy.md (haproxy, two
``python wsgi.py`` processes, PostgreSQL, a Redis of the test's own; all on loopback).

Both participants send continuously, each on another process, while one thing breaks: a process
is killed with SIGKILL; the processes' database connections are dropped
(``pg_terminate_backend``; the shared PostgreSQL server is never stopped); the Redis server is
restarted (empty: it keeps nothing on disk). Clients behave as the protocol says: a send is
retried with its ``client_id`` until acknowledged, reconnecting through the balancer when its
socket is gone, and holes are fetched with ``join``.

After each: every acknowledged message is stored exactly once; both participants hold the whole
conversation, gap-free; live delivery works again; presence is right (each sees the other online,
and a participant who leaves is seen offline, stale entries of a dead process included).

In CI (``CI=true``) a missing haproxy, redis-server, openssl or PostgreSQL fails these tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.chat.cluster import (
    Cluster,
    Participant,
    Sender,
    assert_nothing_lost,
    cluster_fixtures,
    wait_until,
)

BEFORE, AFTER = 5, 10  # acknowledged sends per participant before the fault, and after it


# The fixtures of a cluster of this module's own (see ``cluster_fixtures``).
deployment, cluster, participants = cluster_fixtures("faults")


def converse_through(fault: Callable[[], None], hcp: Participant, rep: Participant) -> list[Any]:
    """Both send continuously; ``fault`` strikes once each has ``BEFORE`` acknowledgements;
    they go on until each has ``AFTER`` more. Returns every acknowledged message."""
    senders = [Sender(hcp), Sender(rep)]
    for sender in senders:
        sender.start()
    try:
        for sender in senders:
            sender.wait_for(BEFORE)
        fault()
        counts = [len(sender.acked) for sender in senders]
        for sender, count in zip(senders, counts, strict=True):
            sender.wait_for(count + AFTER)
    finally:
        acked = [message for sender in senders for message in sender.finish()]
    return acked


def assert_recovered(
    cluster: Cluster, hcp: Participant, rep: Participant, acked: list[dict[str, Any]]
) -> None:
    assert_nothing_lost(cluster, acked, hcp, rep)
    # Live again, both ways, across the processes.
    for sender, receiver in ((hcp, rep), (rep, hcp)):
        receiver.wait_for_seq(sender.send(f"{sender.who}: still there?")["seq"])
    # Presence: each sees the other online; the HCP leaves and the rep sees it (no stale entry
    # of a dead process keeps the HCP "online").
    for participant in (hcp, rep):
        wait_until(participant.sees_online, f"{participant.who} to see the peer online")
    seen = len(rep.presence_events(cluster.personas.hcp_id))
    hcp.close()
    wait_until(
        lambda: False in rep.presence_events(cluster.personas.hcp_id)[seen:],
        "the rep to see the HCP go offline",
    )
    assert rep.sees_online() is False


def test_the_database_connections_dropped_mid_send(cluster, participants):
    hcp, rep = participants
    dropped: list[int] = []

    def drop() -> None:
        for process in ("p1", "p2"):
            dropped.append(cluster.terminate_connections(process))

    acked = converse_through(drop, hcp, rep)

    assert sum(dropped) >= 2, "no server connection was found to drop"
    assert_recovered(cluster, hcp, rep, acked)


def test_redis_restarted_mid_conversation(cluster, participants):
    hcp, rep = participants

    def restart() -> None:
        cluster.redis.stop()
        time.sleep(0.5)
        cluster.redis.start()  # empty: presence, rate limits and the queue start afresh

    acked = converse_through(restart, hcp, rep)

    assert_recovered(cluster, hcp, rep, acked)


def test_a_process_killed_mid_send(cluster, participants):
    hcp, rep = participants

    def kill() -> None:
        cluster.process("p1").kill()  # the HCP's process, with sends in flight

    acked = converse_through(kill, hcp, rep)

    assert hcp.connections >= 2  # the HCP came back through the balancer, on p2
    assert_recovered(cluster, hcp, rep, acked)
