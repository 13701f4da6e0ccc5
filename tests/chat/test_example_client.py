"""The protocol document's example client (``docs/examples/chat-client.mjs``), run with Node.

Live events may arrive late, twice or never (issue 13: through a balancer, up to 779 late arrivals
per run). The client must still show every message exactly once, in ``seq`` order: it tracks the
highest *contiguous* ``seq``, inserts late messages in place, fetches holes with ``join``, checks
``send`` acks for holes too, and re-joins on reconnect and on the server's ``resync``.

Two layers: the client's rules against a scripted socket (deterministic, no server), then the
client against the real server (``python wsgi.py``, SQLite) with the network's faults injected
between the socket and the client: live ``message`` events dropped, delayed or doubled.

Without ``node`` the tests are skipped, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.chat.test_live import TIMEOUT, ChatClient, demo_server
from tests.conftest import IN_CI, ROOT

EXAMPLE = ROOT / "docs" / "examples" / "chat-client.mjs"
SOCKET_IO_CLIENT = ROOT / "static" / "node_modules" / "socket.io-client"
GAP_WAIT_MS = 300  # the client's wait before fetching a hole, shortened for the tests

# The rules against a socket that answers from a list of stored messages. `fire` plays a live
# event; `stored` is what the server holds (what `join` pages through, three at a time).
UNIT_SCRIPT = """
import assert from "node:assert/strict";
import { ChatClient } from %(example)s;

const ID = 7;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const message = (seq) => ({ id: 100 + seq, conversation_id: ID, seq, body: `m${seq}` });
const stored = [1, 2, 3, 4, 5].map(message);
const socket = {
  connected: true, handlers: {}, calls: [],
  on(event, handler) { (this.handlers[event] ??= []).push(handler); return this; },
  fire(event, data) { (this.handlers[event] ?? []).forEach((handler) => handler(data)); },
  timeout() { return this; },
  async emitWithAck(event, data) {
    this.calls.push([event, data]);
    if (event === "join") {
      const after = stored.filter((m) => m.seq > data.after_seq);
      return { ok: true, messages: after.slice(0, 3), more: after.length > 3, live: true };
    }
    if (event === "send") {
      const sent = { ...message(stored.length + 1), body: data.body };
      stored.push(sent);
      return { ok: true, message: sent };
    }
    return { ok: true };
  },
};
const shown = [];
const fetches = [];
const client = new ChatClient(socket, {
  gapWaitMs: 100,
  onShow: (m, index) => shown.splice(index, 0, m.seq),
  onFetch: ({ afterSeq, reason }) => fetches.push([reason, afterSeq]),
});
const store = (...seqs) => seqs.forEach((seq) => stored.push(message(seq)));
const delivered = () => socket.calls.filter(([e]) => e === "delivered").map(([, d]) => d.seq);

// Following replays the stored messages page by page.
await client.follow(ID);
assert.deepEqual(fetches, [["follow", 0], ["follow", 3]]);
assert.deepEqual(shown, [1, 2, 3, 4, 5]);

// A late arrival within the wait fills the hole: shown in place, nothing fetched.
store(6, 7);
socket.fire("message", message(7));
socket.fire("message", message(6));
await sleep(250);
assert.deepEqual(shown, [1, 2, 3, 4, 5, 6, 7]);
assert.equal(fetches.length, 2);
assert.deepEqual(delivered(), [7]);  // not 7 while 6 was missing

// A hole that stays is fetched after the wait; a second copy is never shown twice.
store(8, 9, 10);
socket.fire("message", message(10));
socket.fire("message", message(10));
assert.equal(client.contiguousSeq(ID), 7);
assert.deepEqual(delivered(), [7]);
await sleep(250);
assert.deepEqual(fetches.slice(2), [["gap", 7]]);
assert.deepEqual(shown, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
socket.fire("message", message(9));
assert.equal(shown.length, 10);

// The ack of a send reveals a hole too (message 11 never came live).
store(11);
const ack = await client.send(ID, "mine");
assert.equal(ack.message.seq, 12);
await sleep(250);
assert.deepEqual(fetches.slice(3), [["gap", 10]]);
assert.equal(client.contiguousSeq(ID), 12);

// `resync` and a reconnect re-join after the contiguous seq: a quiet conversation heals too.
store(13);
socket.fire("resync", { reason: "message queue reconnected" });
await sleep(20);
store(14);
socket.fire("connect");
await sleep(20);
assert.deepEqual(fetches.slice(4), [["resync", 12], ["connect", 13]]);
assert.deepEqual(shown, Array.from({ length: 14 }, (_, i) => i + 1));
assert.deepEqual(client.messages(ID).map((m) => m.seq), shown);
client.close();
console.log("ok");
"""

# The client on a real socket, with faults between the two: live `message` events dropped,
# delayed or doubled, as the test commands on standard input. Prints JSON lines.
LIVE_SCRIPT = """
import { createInterface } from "node:readline";
import { ChatClient, openSocket } from %(example)s;

const [base, id, gapWait] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const out = (record) => console.log(JSON.stringify(record));
const socket = await openSocket(base, {
  cookie: process.env.PORTAL_COOKIE, userAgent: process.env.PORTAL_USER_AGENT,
});
const faults = { drop: new Set(), delay: {}, duplicate: new Set() };
const on = socket.on.bind(socket);
socket.on = (event, handler) => on(event, event !== "message" ? handler : (m) => {
  if (faults.drop.has(m.seq)) { out({ event: "dropped", seq: m.seq }); return; }
  const deliver = () => { handler(m); if (faults.duplicate.has(m.seq)) { handler(m); } };
  if (faults.delay[m.seq]) { setTimeout(deliver, faults.delay[m.seq]); } else { deliver(); }
});
const client = new ChatClient(socket, {
  gapWaitMs: gapWait,
  onShow: (m, index) => out({ event: "shown", seq: m.seq, index }),
  onFetch: ({ afterSeq, reason }) => out({ event: "fetch", after_seq: afterSeq, reason }),
});
socket.on("connect_error", (error) => out({ event: "connect_error", message: error.message }));
socket.once("connect", async () => {
  await client.follow(id);
  out({ event: "following", seq: client.contiguousSeq(id) });
});
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line);
  if (command.faults) {
    faults.drop = new Set(command.faults.drop ?? []);
    faults.delay = command.faults.delay ?? {};
    faults.duplicate = new Set(command.faults.duplicate ?? []);
  } else if (command.send) {
    const ack = await client.send(id, command.send);
    out({ event: "sent", ok: ack.ok, seq: ack.message?.seq });
  } else if (command.resync) {
    // What the server sends when its message-queue subscriber has reconnected.
    socket.listeners("resync").forEach((handler) => handler({ reason: "test" }));
  } else if (command.disconnect) {
    socket.disconnect();
    out({ event: "disconnected" });
  } else if (command.connect) {
    socket.connect();
  }
}
const seqs = client.messages(id).map((m) => m.seq);
out({ event: "final", seqs, up_to: client.contiguousSeq(id) });
client.close();
socket.disconnect();
"""


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        if IN_CI:
            pytest.fail("node is not installed: CI must run the example chat client")
        pytest.skip("node is not installed (the example chat client needs Node 20)")
    if not (SOCKET_IO_CLIENT / "package.json").exists():
        pytest.fail(f"{SOCKET_IO_CLIENT} is missing: run `make install` (npm ci in static/)")
    return found


def _script(tmp_path: Path, name: str, template: str) -> Path:
    path = tmp_path / name
    path.write_text(template % {"example": json.dumps(EXAMPLE.as_uri())})
    return path


class NodeProcess:
    """A Node program whose standard output is read as JSON lines, one event each."""

    def __init__(self, node: str, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [node, *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def command(self, line: str | dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
        self.process.stdin.flush()

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """Read events until ``predicate(all events so far)`` holds; returns them all."""
        deadline = time.monotonic() + TIMEOUT
        while not predicate(self.events):
            left = deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=max(left, 0))
            except queue.Empty:
                raise AssertionError(f"timed out; events so far: {self.events}") from None
            if line is None:
                raise AssertionError(f"node exited: {self.stderr()}; events: {self.events}")
            self.events.append(json.loads(line))
        return self.events

    def seen(self, event: str, **fields: Any) -> Callable[[list[dict[str, Any]]], bool]:
        def found(events: list[dict[str, Any]]) -> bool:
            return any(
                e["event"] == event and all(e.get(k) == v for k, v in fields.items())
                for e in events
            )

        return found

    def shown(self) -> list[int]:
        return [e["seq"] for e in self.events if e["event"] == "shown"]

    def finish(self) -> int:
        """Close standard input (the program ends) and wait for it to exit."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=TIMEOUT)

    def stderr(self) -> str:
        self.process.kill()
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def chat_server(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from demo_server(tmp_path_factory.mktemp("chat-example-client"))


@pytest.fixture(scope="module")
def doctor(chat_server: str) -> dict[str, Any]:
    """The demo HCP, signed in over HTTP: the cookie and User-Agent for Node, and the chat with
    the demo MSL."""
    client = ChatClient(chat_server, "hcp").connect()
    try:
        conversation = client.conversation_with("msl")
    finally:
        client.disconnect()
    return {
        "PORTAL_COOKIE": "; ".join(f"{c.name}={c.value}" for c in client.http.cookies),
        "PORTAL_USER_AGENT": str(client.http.headers["User-Agent"]),
        "conversation": conversation,
    }


@pytest.fixture(scope="module")
def colleague(chat_server: str) -> Iterator[ChatClient]:
    """The demo MSL on the other side, a python-socketio client (closing one takes seconds)."""
    client = ChatClient(chat_server, "msl").connect()
    yield client
    client.disconnect()


@pytest.fixture
def run_node(node: str) -> Iterator[Callable[..., NodeProcess]]:
    started: list[NodeProcess] = []

    def run(args: list[str], env: dict[str, str]) -> NodeProcess:
        started.append(NodeProcess(node, args, env))
        return started[-1]

    yield run
    for process in started:
        process.kill()


def _assert_each_once_in_order(client: NodeProcess, expected: list[int]) -> None:
    shown = client.shown()
    assert sorted(shown) == expected, "a message was shown twice or never"
    # Rebuild the page from the insertion indexes: late messages were put in their place.
    page: list[int] = []
    for event in client.events:
        if event["event"] == "shown":
            page.insert(event["index"], event["seq"])
    assert page == expected


def test_the_protocol_document_quotes_the_example_as_it_is() -> None:
    document = (ROOT / "docs" / "chat-protocol.md").read_text()
    quoted = document.split("(quoted from the file):\n\n```js\n", 1)[1].split("```", 1)[0]
    assert "#add(m) {" in quoted
    assert quoted in EXAMPLE.read_text()


def test_the_rules_hold_against_a_scripted_socket(node: str, tmp_path: Path) -> None:
    script = _script(tmp_path, "unit.mjs", UNIT_SCRIPT)
    done = subprocess.run(
        [node, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_program_shows_and_sends_every_message_once_in_order(
    run_node: Callable[..., NodeProcess], doctor: dict[str, Any], colleague: ChatClient
) -> None:
    conversation_id = doctor["conversation"]["id"]
    client = run_node(
        [str(EXAMPLE), colleague.base, "--json", "--conversation", str(conversation_id)],
        {k: v for k, v in doctor.items() if k.startswith("PORTAL_")},
    )
    start = client.wait_for(client.seen("following"))[-1]["seq"]
    assert start >= doctor["conversation"]["last_seq"]

    for n in range(3):
        colleague.send(conversation_id, f"from the MSL {n}")
    client.command(f"send {conversation_id} from Node, <b>as text</b>")
    events = client.wait_for(client.seen("sent"))

    assert events[-1]["ok"] is True and events[-1]["message"]["seq"] == start + 4
    client.wait_for(lambda _: len(client.shown()) >= start + 4)
    assert client.finish() == 0
    _assert_each_once_in_order(client, list(range(1, start + 5)))
    last = [e for e in client.events if e["event"] == "shown"][-1]
    assert last["body"] == "from Node, <b>as text</b>"


def test_late_doubled_and_lost_live_events_are_shown_once_in_seq_order(
    run_node: Callable[..., NodeProcess],
    doctor: dict[str, Any],
    colleague: ChatClient,
    tmp_path: Path,
) -> None:
    conversation_id = doctor["conversation"]["id"]
    script = _script(tmp_path, "live.mjs", LIVE_SCRIPT)
    client = run_node(
        [str(script), colleague.base, str(conversation_id), str(GAP_WAIT_MS)],
        {k: v for k, v in doctor.items() if k.startswith("PORTAL_")},
    )
    s = client.wait_for(client.seen("following"))[-1]["seq"]

    # Lost, late and doubled live events: the hole is fetched after the wait.
    client.command(
        {"faults": {"drop": [s + 2, s + 3], "delay": {s + 5: 200}, "duplicate": [s + 7]}}
    )
    for n in range(1, 11):
        colleague.send(conversation_id, f"burst {n}")
    client.wait_for(lambda _: set(range(s + 1, s + 11)) <= set(client.shown()))
    assert client.seen("fetch", reason="gap", after_seq=s + 1)(client.events)

    # The live copies of the peer's message and of our own are lost: our ack shows the hole.
    client.command({"faults": {"drop": [s + 11, s + 12]}})
    colleague.send(conversation_id, "lost in transit")
    client.wait_for(client.seen("dropped", seq=s + 11))
    client.command({"send": "an answer from Node"})
    client.wait_for(client.seen("sent", seq=s + 12))
    client.wait_for(client.seen("fetch", reason="gap", after_seq=s + 10))
    client.wait_for(lambda _: {s + 11, s + 12} <= set(client.shown()))

    # The conversation goes quiet after two lost events: only `resync` can bring them.
    client.command({"faults": {"drop": [s + 13, s + 14]}})
    colleague.send(conversation_id, "lost before the queue came back 1")
    colleague.send(conversation_id, "lost before the queue came back 2")
    client.wait_for(client.seen("dropped", seq=s + 14))
    assert not set(client.shown()) & {s + 13, s + 14}
    client.command({"resync": True})
    client.wait_for(client.seen("fetch", reason="resync", after_seq=s + 12))
    client.wait_for(lambda _: {s + 13, s + 14} <= set(client.shown()))

    # Messages sent while disconnected come with the re-join on connect.
    client.command({"faults": {}})
    client.command({"disconnect": True})
    client.wait_for(client.seen("disconnected"))
    colleague.send(conversation_id, "while you were away 1")
    colleague.send(conversation_id, "while you were away 2")
    client.command({"connect": True})
    client.wait_for(client.seen("fetch", reason="connect", after_seq=s + 14))
    client.wait_for(lambda _: {s + 15, s + 16} <= set(client.shown()))

    assert client.finish() == 0
    final = client.wait_for(client.seen("final"))[-1]
    expected = list(range(1, s + 17))
    assert final == {"event": "final", "seqs": expected, "up_to": s + 16}
    _assert_each_once_in_order(client, expected)
