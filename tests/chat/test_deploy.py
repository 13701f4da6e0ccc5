"""The deployment of docs/deploy.md, run: haproxy (Debian's package) with the shipped
``docs/deploy/haproxy.cfg`` in front of two ``python wsgi.py`` processes configured by
``docs/deploy/portal.env``, on PostgreSQL and a Redis of the test's own, all on loopback.

The balancer passes the client's address and HTTPS to the portal, and nothing a client claims
about them. A request for a session another process held is refused in one log line. A
conversation goes through the balancer (each participant on another process); one process is
killed with SIGKILL, and the conversation continues on the other, nothing lost; a long-polling
client pinned to the dead process is refused cleanly and comes back once, on the live one.

In CI (``CI=true``) a missing haproxy, redis-server, openssl or PostgreSQL fails these tests.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text

from tests.chat.cluster import (
    Cluster,
    Participant,
    assert_nothing_lost,
    cluster_fixtures,
    wait_until,
)
from tests.chat.test_live import NAMESPACE, requests, socketio_client

# The fixtures of a cluster of this module's own (see ``cluster_fixtures``).
deployment, cluster, participants = cluster_fixtures("deploy")


def test_the_balancer_passes_https_and_the_client_address_and_nothing_else(cluster):
    rep = Participant(cluster, "rep")  # signs in saying X-Forwarded-For: 203.0.113.66

    page = rep.http.get(f"{cluster.base}/", timeout=10)
    session = next(c for c in rep.http.cookies if c.name == "session")
    with cluster.engine.connect() as connection:
        addresses = connection.scalars(
            text("SELECT ip FROM user_sessions WHERE user_id = :u"),
            {"u": cluster.personas.rep_id},
        ).all()
    plain = requests.get(
        f"http://127.0.0.1:{cluster.balancer.ports['http']}/login",
        allow_redirects=False,
        timeout=10,
    )

    assert page.ok and "Strict-Transport-Security" in page.headers  # the portal sees HTTPS
    assert session.secure
    assert "127.0.0.1" in addresses and "203.0.113.66" not in addresses
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")


def test_misrouted_socket_requests_are_refused_in_one_line_each(cluster):
    """After a failover a client may name a session its new process never held: 400, one line
    in the log, no traceback. A WebSocket that ends leaves nothing in the log either."""
    p2 = cluster.process("p2")
    direct = f"http://127.0.0.1:{p2.port}"
    hcp = Participant(cluster, "hcp", pin="p2").connect()
    hcp.close()  # a WebSocket that ends cleanly
    time.sleep(0.2)
    before = p2.log.read_text()
    sid = "NotHeldHereXXXXXXXXX"
    url = f"{direct}/socket.io/?EIO=4&transport=polling&sid={sid}"

    polling = requests.get(url, timeout=5)
    posted = requests.post(url, data="40/chat,", timeout=5)
    upgrade = requests.get(
        url.replace("polling", "websocket"),
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        },
        timeout=5,
    )

    assert [r.status_code for r in (polling, posted, upgrade)] == [400, 400, 400]
    time.sleep(0.5)
    whole_log = p2.log.read_text()
    logged = whole_log[len(before) :].splitlines()
    refused = [line for line in logged if f"Socket.IO session '{sid}' is not held" in line]
    assert len(refused) == 3, logged
    assert all(" WARNING " in line for line in refused)
    assert not [line for line in logged if " ERROR " in line], logged
    assert "Traceback" not in whole_log
    assert "Invalid HTTP method" not in whole_log and "Expected GET method" not in whole_log


def _polling_client(cluster: Cluster, connects: list[float]) -> tuple[Participant, Any]:
    """The HCP on a second device that can only long-poll, pinned to p1 and reconnecting by
    itself (python-socketio's own reconnection, as socket.io-client does in a browser)."""
    device = Participant(cluster, "hcp", pin="p1")
    client = socketio_client.Client(
        reconnection=True,
        reconnection_delay=0.2,
        reconnection_delay_max=1,
        http_session=device.http,
        request_timeout=5,
        handle_sigint=False,
    )
    client.on("connect", lambda: connects.append(time.monotonic()), namespace=NAMESPACE)
    client.connect(
        cluster.base,
        namespaces=[NAMESPACE],
        transports=["polling"],
        headers={"User-Agent": str(device.http.headers["User-Agent"])},
        wait_timeout=10,
    )
    return device, client


def test_a_conversation_survives_the_death_of_a_process(cluster, participants):
    hcp, rep = participants
    connects: list[float] = []
    device, poller = _polling_client(cluster, connects)
    acked: list[dict[str, Any]] = []

    def exchange(rounds: int) -> None:
        for n in range(rounds):
            for sender, receiver in ((hcp, rep), (rep, hcp)):
                message = sender.send(f"{sender.who} says {n}")
                acked.append(message)
                receiver.wait_for_seq(message["seq"])  # live, from the other process

    try:
        started = time.monotonic()
        exchange(3)
        seqs = sorted(m["seq"] for m in acked)
        assert seqs == list(range(seqs[0], seqs[0] + 6))
        scroll_back = rep.call(
            "history", {"conversation_id": rep.conversation_id, "before_seq": seqs[-1] + 1}
        )
        assert scroll_back["ok"] is True
        assert [m["seq"] for m in scroll_back["messages"]][-6:] == seqs
        assert device.http.cookies.get("SERVERID") == "p1"

        cluster.process("p1").kill()  # the HCP's process, mid-conversation
        killed = time.monotonic()
        wait_until(lambda: not hcp.connected, "the HCP's socket to drop")
        exchange(3)  # the HCP's next send reconnects through the balancer, to p2
        wait_until(lambda: len(connects) >= 2, "the polling client to reconnect")

        assert hcp.connections >= 2  # back through the balancer, on p2
        assert_nothing_lost(cluster, acked, hcp, rep)
        # The polling client was refused by p2 once, started afresh there and stays.
        assert connects[1] - killed < 10
        assert poller.call("conversations", {}, namespace=NAMESPACE, timeout=5)["ok"] is True
        assert device.http.cookies.get("SERVERID") == "p2"
        assert cluster.served_by("p1") == "p2"
        time.sleep(1)
        assert len(connects) == 2, "the polling client keeps reconnecting"
        assert time.monotonic() - started < 30
        assert "Traceback" not in cluster.process("p2").log.read_text()
    finally:
        poller.disconnect()
