"""The portal deployed on loopback, as docs/deploy.md deploys it, for the deployment and fault
tests (``test_deploy.py``, ``test_faults.py``).

A schema of its own on the PostgreSQL test server, a Redis server of its own on a free port
(the shared one would mix this cluster's Socket.IO traffic and presence with other tests'),
``python wsgi.py`` processes with the environment of ``docs/deploy/portal.env``, and haproxy
running ``docs/deploy/haproxy.cfg`` with only its ports and its certificate's path changed: the
documented files are the tested files.

Participants follow the protocol as a careful client does (``docs/chat-protocol.md``): each send
is retried with its ``client_id`` until acknowledged, reconnecting through the balancer when its
process went away, and holes in ``seq`` are fetched with ``join``.

In CI (``CI=true``) a missing haproxy, redis-server, openssl or PostgreSQL fails the tests instead
of skipping them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import pytest
from _pytest.fixtures import FixtureFunctionDefinition
from sqlalchemy import Engine, create_engine, text

from tests.chat.test_live import NAMESPACE, requests, socketio_client
from tests.conftest import (
    IN_CI,
    PG_URL,
    ROOT,
    _free_port,
    _pg_config,
    _pg_sqlalchemy_url,
    base_config,
)
from tests.factories import PASSWORD

DEPLOY = ROOT / "docs" / "deploy"
HAPROXY_CONFIG = DEPLOY / "haproxy.cfg"
PORTAL_ENV = DEPLOY / "portal.env"
# What the test changes in the shipped files: addresses and secrets, nothing else.
PUBLIC_PORTS = {"bind :443": "https", "bind :80": "http"}
CERTIFICATE = "/etc/haproxy/certs/portal.pem"
MACHINE_SETTINGS = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "PORTAL_INSTANCE_PATH")
WAIT = 20.0  # seconds: the longest any recovery in these tests may take
PORTAL_SETTINGS = (
    *("FLASK_", "MAIL_", "SESSION_", "REDIS_", "PRESENCE_", "WORKER_", "THROTTLE_", "LOGIN_"),
    *("RATELIMIT_", "SOCKETIO_", "CHAT_", "TRUSTED_PROXIES", "ALLOWED_HOSTS", "PUBLIC_URL"),
)


def need(program: str, *, where: str | None = None) -> str:
    """The path of ``program``: a failure in CI when it is missing, a skip elsewhere."""
    found = where if where and os.access(where, os.X_OK) else shutil.which(program)
    if not found:
        message = f"{program} is not installed (apt-get install {program})"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def wait_until(check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# --- services ---------------------------------------------------------------------------------
class RedisServer:
    """``redis-server`` on a free loopback port, without persistence: a restart empties it."""

    def __init__(self, folder: Path) -> None:
        self.program = need("redis-server")
        self.folder = folder
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                *(self.program, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.folder)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        import redis

        client = redis.Redis.from_url(self.url, socket_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(answers, "redis-server to answer")
        client.close()

    def stop(self) -> None:
        _stop(self.process)


class PortalProcess:
    """One ``python wsgi.py`` of the cluster; haproxy knows it as ``name`` (p1, p2, ...)."""

    def __init__(self, name: str, env: dict[str, str], port: int, log: Path) -> None:
        self.name = name
        self.env = env
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "wsgi.py"],
                cwd=ROOT,
                env={**self.env, "PORT": str(self.port)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_healthy(self) -> None:
        def healthy() -> bool:
            assert self.alive, f"{self.name} exited:\n{self.log.read_text()[-3000:]}"
            try:
                response = requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2)
            except requests.RequestException:
                return False
            return response.status_code == 200

        wait_until(healthy, f"{self.name} to answer /healthz", timeout=90)

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a crash or the OOM killer."""
        _stop(self.process, signal.SIGKILL)

    def stop(self) -> None:
        _stop(self.process)


class Balancer:
    """haproxy running the shipped configuration, on free loopback ports."""

    def __init__(self, folder: Path, processes: list[PortalProcess], certificate: Path) -> None:
        self.program = need("haproxy", where="/usr/sbin/haproxy")
        self.ports = {scheme: _free_port() for scheme in PUBLIC_PORTS.values()}
        self.base = f"https://127.0.0.1:{self.ports['https']}"
        self.config = folder / "haproxy.cfg"
        self.config.write_text(self.configuration(processes, certificate))
        self.log = folder / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    def configuration(self, processes: list[PortalProcess], certificate: Path) -> str:
        shipped = HAPROXY_CONFIG.read_text()
        changes = {
            **{
                bind: f"bind 127.0.0.1:{self.ports[scheme]}"
                for bind, scheme in PUBLIC_PORTS.items()
            },
            f"crt {CERTIFICATE}": f"crt {certificate}",
            **{f"127.0.0.1:{5000 + n}": f"127.0.0.1:{p.port}" for n, p in enumerate(processes, 1)},
        }
        servers = re.findall(r"^\s*server\s", shipped, flags=re.MULTILINE)
        assert len(servers) == len(processes), "one server line per portal process"
        for before, after in changes.items():
            # Whole words only: ``bind :80`` must not match inside ``bind :8080``.
            pattern = re.escape(before) + r"(?![\w.:/])"
            shipped, found = re.subn(pattern, after, shipped)
            assert found == 1, f"docs/deploy/haproxy.cfg should hold {before!r} once"
        return shipped

    def start(self) -> None:
        check = subprocess.run(
            [self.program, "-c", "-q", "-f", str(self.config)], capture_output=True, timeout=30
        )
        assert check.returncode == 0, check.stderr.decode(errors="replace")
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [self.program, "-db", "-f", str(self.config)], stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        _stop(self.process)


def certificate(folder: Path) -> Path:
    """A self-signed certificate for 127.0.0.1, key and certificate in one file as haproxy
    takes them; clients verify against it."""
    openssl = need("openssl")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *(
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    bundle = folder / "portal.pem"
    bundle.write_text(cert.read_text() + key.read_text())
    return cert


def documented_environment() -> dict[str, str]:
    """``docs/deploy/portal.env`` as systemd reads it: ``KEY=value`` lines, ``#`` comments."""
    settings: dict[str, str] = {}
    for line in PORTAL_ENV.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            settings[key.strip()] = value
    missing = [key for key in MACHINE_SETTINGS if key not in settings]
    assert not missing, f"docs/deploy/portal.env should set {missing}"
    return settings


# --- the cluster ------------------------------------------------------------------------------
class Cluster:
    """Processes p1..pN behind haproxy, on one PostgreSQL schema and one Redis of their own."""

    def __init__(self, folder: Path, database_url: str, schema: str, processes: int = 2) -> None:
        self.folder = folder
        self.schema = schema
        self.database_url = database_url
        self.redis = RedisServer(folder)
        self.certificate = certificate(folder)
        self.tag = uuid.uuid4().hex[:8]
        self.env = self._environment()
        self.processes = [
            PortalProcess(
                f"p{n}",
                {**self.env, "DATABASE_URL": self._database_url(f"p{n}")},
                _free_port(),
                folder / f"p{n}.log",
            )
            for n in range(1, processes + 1)
        ]
        self.balancer = Balancer(folder, self.processes, folder / "portal.pem")
        self.base = self.balancer.base
        self.engine: Engine = create_engine(_pg_sqlalchemy_url(self._database_url("test")))
        self.personas: Personas

    def _environment(self) -> dict[str, str]:
        # Nothing of the developer's own portal settings: the documented ones only.
        env = {k: v for k, v in os.environ.items() if not k.startswith(PORTAL_SETTINGS)}
        env.update(documented_environment())
        env.update(
            SECRET_KEY=f"cluster-{uuid.uuid4().hex}",
            REDIS_URL=self.redis.url,
            PORTAL_INSTANCE_PATH=str(self.folder / "instance"),
            # Test-only: the clients reach the balancer by its address, not PUBLIC_URL's name;
            # no mail server; the demo staff sign in with their password alone; the tests send
            # faster than a person.
            ALLOWED_HOSTS="127.0.0.1",
            MAIL_SERVER="",
            TWO_FACTOR_REQUIRED="false",
            CHAT_RATE_LIMIT="100000 per minute",
            # Presence heals within seconds rather than the default 15 (test_faults waits
            # for it).
            PRESENCE_HEARTBEAT_SECONDS="1",
            PRESENCE_EXPIRY_SECONDS="3",
            PYTHONUNBUFFERED="1",
        )
        return env

    def _database_url(self, application: str) -> str:
        """The schema's URL, naming the connection so that ``pg_stat_activity`` can find it."""
        query = urllib.parse.urlencode(
            {
                "options": f"-csearch_path={self.schema}",
                "application_name": self.app_name(application),
            }
        )
        return f"{self.database_url}{'&' if '?' in self.database_url else '?'}{query}"

    def app_name(self, process: str) -> str:
        return f"portal-{self.tag}-{process}"

    def start(self) -> None:
        self.redis.start()
        for process in self.processes:
            process.start()
        # While the processes import (nothing reads the database before a request comes).
        self.personas = Personas(self.folder / "setup", _pg_sqlalchemy_url(PG_URL), self.schema)
        for process in self.processes:
            process.wait_healthy()
        self.balancer.start()
        for process in self.processes:
            self.wait_in_rotation(process.name)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        self.balancer.stop()
        self.redis.stop()
        self.engine.dispose()

    def process(self, name: str) -> PortalProcess:
        return next(p for p in self.processes if p.name == name)

    def http(self) -> Any:
        """A ``requests`` session that trusts the balancer's certificate."""
        session = requests.Session()
        # Not the environment's CA bundle (REQUESTS_CA_BUNDLE would win over ``verify``).
        session.trust_env = False
        session.verify = str(self.certificate)
        return session

    def served_by(self, pin: str) -> str | None:
        """Which process answers a request pinned to ``pin`` (``None``: the balancer failed)."""
        session = self.http()
        session.cookies.set("SERVERID", pin, domain="127.0.0.1", path="/")
        try:
            response = session.get(f"{self.base}/healthz", timeout=3)
        except requests.RequestException:
            return None
        if response.status_code != 200:
            return None
        # haproxy sets the cookie again only when another process answered.
        return str(response.cookies.get("SERVERID", pin))

    def wait_in_rotation(self, name: str) -> None:
        def in_rotation() -> bool:
            assert self.balancer.alive, f"haproxy exited:\n{self.balancer.log.read_text()}"
            return self.served_by(name) == name

        wait_until(in_rotation, f"haproxy to send requests to {name}")

    def revive(self) -> None:
        """Start again every process a test killed, and wait until haproxy uses it."""
        dead = [p for p in self.processes if not p.alive]
        for process in dead:
            process.start()
        for process in dead:
            process.wait_healthy()
            self.wait_in_rotation(process.name)

    # --- looking behind the clients' backs ---
    def stored(self, conversation_id: int) -> list[dict[str, Any]]:
        """Every stored message of the conversation: id, seq, sender, client_id."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT id, seq, sender_id, client_id FROM chat_messages "
                    "WHERE conversation_id = :c ORDER BY seq"
                ),
                {"c": conversation_id},
            )
            return [dict(row._mapping) for row in rows]

    def terminate_connections(self, process: str) -> int:
        """``pg_terminate_backend`` on every database connection of ``process``; how many."""
        with self.engine.connect() as connection:
            done = connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": self.app_name(process)},
            )
            return len(done.all())


class Personas:
    """An HCP and the sales rep they chat with (an open conversation), made in the cluster's
    schema."""

    def __init__(self, folder: Path, url: str, schema: str) -> None:
        from flask_migrate import upgrade

        from portal import create_app
        from portal.extensions import db
        from portal.models import Role
        from portal.services.demo import ensure_reference_data
        from tests.chat.factories import active_conversation, chat_pair

        app = create_app(base_config(folder, **_pg_config(url, schema)))
        with app.app_context():
            upgrade()
            ensure_reference_data()
            hcp, rep, _territory = chat_pair(Role.REP)
            conversation = active_conversation(hcp, rep)
            self.hcp, self.rep = hcp.email, rep.email
            self.hcp_id, self.rep_id = hcp.id, rep.id
            self.conversation_id = conversation.id
            db.session.remove()
            db.engine.dispose()


def cluster_fixture(
    tmp_path_factory: pytest.TempPathFactory, name: str, processes: int = 2
) -> Iterator[Cluster]:
    """Body of a module-scoped fixture: a started cluster, torn down afterwards."""
    if not PG_URL:
        if IN_CI:
            pytest.fail("TEST_DATABASE_URL must be set in CI")
        pytest.skip("TEST_DATABASE_URL is not set")
    for program, where in (
        ("haproxy", "/usr/sbin/haproxy"),
        ("redis-server", None),
        ("openssl", None),
    ):
        need(program, where=where)
    schema = f"{name}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(_pg_sqlalchemy_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    with ExitStack() as cleanup:
        cleanup.callback(admin.dispose)
        cleanup.callback(_drop_schema, admin, schema)
        folder = tmp_path_factory.mktemp(name)
        cluster = Cluster(folder, PG_URL, schema, processes)
        cleanup.callback(cluster.stop)
        cluster.start()
        yield cluster


def cluster_fixtures(
    name: str,
) -> tuple[FixtureFunctionDefinition, FixtureFunctionDefinition, FixtureFunctionDefinition]:
    """A test module's fixtures on a cluster of its own (``name`` names its schema and folder),
    to be assigned under their names: ``deployment, cluster, participants = cluster_fixtures(...)``.

    ``deployment``: the cluster, started once for the module. ``cluster``: the deployment with
    every process up (another test may have killed one). ``participants``: the HCP on p1 and the
    rep on p2, both following their conversation, closed after the test.
    """

    @pytest.fixture(scope="module", name="deployment")
    def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
        yield from cluster_fixture(tmp_path_factory, name)

    @pytest.fixture(name="cluster")
    def cluster(deployment: Cluster) -> Cluster:
        deployment.revive()
        return deployment

    @pytest.fixture(name="participants")
    def participants(cluster: Cluster) -> Iterator[tuple[Participant, Participant]]:
        hcp = Participant(cluster, "hcp", pin="p1").connect()
        rep = Participant(cluster, "rep", pin="p2").connect()
        for participant in (hcp, rep):
            participant.follow(cluster.personas.conversation_id)
        yield hcp, rep
        for participant in (hcp, rep):
            participant.close()

    return deployment, cluster, participants


def _drop_schema(admin: Engine, schema: str) -> None:
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


# --- a participant ----------------------------------------------------------------------------
class Unacknowledged(AssertionError):
    """A send that no process acknowledged in time."""


class Participant:
    """One of the cluster's personas in a client of its own behind the balancer (signed in
    through the sign-in form, then a Socket.IO connection), following their conversation.

    ``pin`` chooses the process (haproxy's ``SERVERID`` cookie) for as long as it is up.
    """

    def __init__(
        self,
        cluster: Cluster,
        who: str,
        *,
        pin: str | None = None,
        transports: tuple[str, ...] = ("websocket",),
    ) -> None:
        self.cluster = cluster
        self.who = who  # "hcp" or "rep": one of the cluster's personas
        self.email: str = getattr(cluster.personas, who)
        self.transports = list(transports)
        self.http = cluster.http()
        if pin:
            self.http.cookies.set("SERVERID", pin, domain="127.0.0.1", path="/")
        self._sign_in()
        self.sio: Any = None
        self.connections = 0
        self._lock = threading.Condition()
        self.held: dict[int, dict[str, Any]] = {}  # seq -> MESSAGE of the followed conversation
        self.events: list[tuple[str, Any]] = []
        self.conversation_id: int | None = None

    def _sign_in(self) -> None:
        page = self.http.get(f"{self.cluster.base}/login", timeout=10)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
        assert token is not None, "the sign-in form has no CSRF token"
        signed_in = self.http.post(
            f"{self.cluster.base}/login",
            data={"email": self.email, "password": PASSWORD, "csrf_token": token[1]},
            headers={
                # Over HTTPS, Flask-WTF checks that the form came from this site, as a
                # browser says.
                "Referer": f"{self.cluster.base}/login",
                # Anyone may send this header: the portal must read the client's address from
                # haproxy's entry, never from this one.
                "X-Forwarded-For": "203.0.113.66",
            },
            timeout=10,
        )
        assert signed_in.ok and "/login" not in signed_in.url, f"{self.who} could not sign in"

    # --- connection ---
    def connect(self) -> Participant:
        self.sio = socketio_client.Client(
            reconnection=False, http_session=self.http, request_timeout=5, handle_sigint=False
        )
        self.sio.on("*", self._record, namespace=NAMESPACE)
        self.sio.connect(
            self.cluster.base,
            namespaces=[NAMESPACE],
            transports=self.transports,
            # The browser that signed in: a session refuses any other.
            headers={"User-Agent": str(self.http.headers["User-Agent"])},
            wait_timeout=10,
        )
        self.connections += 1
        if self.conversation_id is not None:
            self.catch_up()
        return self

    @property
    def connected(self) -> bool:
        return self.sio is not None and self.sio.connected

    def reconnect(self, timeout: float = WAIT) -> None:
        """Connect again through the balancer, as a client does after losing its socket."""
        deadline = time.monotonic() + timeout
        while True:
            self.close()  # the lost socket, or an attempt that connected but failed to catch up
            try:
                self.connect()
                return
            except (socketio_client.exceptions.SocketIOError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        if self.sio is not None:
            with suppress(Exception):
                self.sio.disconnect()
            with suppress(Exception):
                self.sio.shutdown()
            self.sio = None

    def _record(self, event: str, *args: Any) -> None:
        data = args[0] if args else None
        with self._lock:
            self.events.append((event, data))
            if event == "message" and data.get("conversation_id") == self.conversation_id:
                self.held.setdefault(data["seq"], data)
            self._lock.notify_all()
        if event == "resync" and self.conversation_id is not None:
            # Live events may have been lost (the server's message queue was away): catch up.
            threading.Thread(target=self._resync, daemon=True).start()

    def _resync(self) -> None:
        # A failure here leaves the holes to the next reconnect or resync.
        with suppress(Exception):
            self.catch_up()

    def call(self, event: str, data: Any = None, timeout: float = 5) -> Any:
        assert self.sio is not None, f"{self.who} is not connected"
        return self.sio.call(event, data, namespace=NAMESPACE, timeout=timeout)

    # --- the conversation ---
    def follow(self, conversation_id: int) -> None:
        self.conversation_id = conversation_id
        self.catch_up()

    @property
    def contiguous(self) -> int:
        """The highest ``seq`` below which nothing is missing."""
        with self._lock:
            seq = 0
            while seq + 1 in self.held:
                seq += 1
            return seq

    def catch_up(self) -> None:
        """``join`` from the highest contiguous ``seq``, page by page: fills every hole and
        (re)enters the live room."""
        after = self.contiguous
        while True:
            ack = self.call("join", {"conversation_id": self.conversation_id, "after_seq": after})
            assert ack["ok"] is True and ack["live"] is True, ack
            with self._lock:
                for message in ack["messages"]:
                    self.held.setdefault(message["seq"], message)
                self._lock.notify_all()
            if not ack["more"]:
                return
            after = ack["messages"][-1]["seq"]

    def send(self, body: str, *, within: float = WAIT) -> dict[str, Any]:
        """Send until acknowledged, with one ``client_id``: after a timeout, an ``unavailable``
        or a lost socket, retry (reconnecting first when needed) as the protocol says."""
        client_id = str(uuid.uuid4())
        payload = {"conversation_id": self.conversation_id, "client_id": client_id, "body": body}
        deadline = time.monotonic() + within
        last: Any = None
        while time.monotonic() < deadline:
            try:
                if not self.connected:
                    self.reconnect(timeout=max(0.1, deadline - time.monotonic()))
                last = self.call("send", payload, timeout=3)
            except (socketio_client.exceptions.SocketIOError, AssertionError) as exc:
                last = exc
                time.sleep(0.1)
                continue
            if last["ok"]:
                message: dict[str, Any] = last["message"]
                assert message["client_id"] == client_id
                return message
            assert last["error"] in ("unavailable", "rate_limited"), last
            time.sleep(0.1)
        raise Unacknowledged(f"{self.who}: {body!r} was never acknowledged (last: {last!r})")

    def wait_for_seq(self, seq: int, timeout: float = WAIT) -> None:
        """Wait until ``seq`` arrived: live, or fetched after a ``resync``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while seq not in self.held:
                left = deadline - time.monotonic()
                if left <= 0:
                    others = [event for event, _ in self.events if event != "message"][-5:]
                    raise AssertionError(
                        f"{self.who} never received seq {seq} (connections: "
                        f"{self.connections}, connected: {self.connected}, events: {others})"
                    )
                self._lock.wait(left)

    def holding(self) -> dict[int, dict[str, Any]]:
        """The messages held now, by ``seq``."""
        with self._lock:
            return dict(self.held)

    def sees_online(self) -> bool:
        """Whether the ``conversations`` answer shows the peer online."""
        ack = self.call("conversations", {})
        assert ack["ok"] is True, ack
        [conversation] = [c for c in ack["conversations"] if c["id"] == self.conversation_id]
        return bool(conversation["peer"]["online"])

    def presence_events(self, user_id: int) -> list[bool]:
        """The ``online`` values of the ``presence`` events received about ``user_id``."""
        with self._lock:
            return [
                data["online"]
                for event, data in self.events
                if event == "presence" and data["user_id"] == user_id
            ]


def assert_stored_once(cluster: Cluster, acked: list[dict[str, Any]]) -> None:
    """Every acknowledged message is stored exactly once, as acknowledged, and nothing else was
    stored among them: the conversation's sequence has no gap and no repeat."""
    stored = cluster.stored(cluster.personas.conversation_id)
    copies = Counter((row["sender_id"], row["client_id"]) for row in stored)
    by_seq = {row["seq"]: row for row in stored}
    for message in acked:
        assert copies[message["sender_id"], message["client_id"]] == 1, message
        assert by_seq[message["seq"]]["id"] == message["id"], message
    assert [row["seq"] for row in stored] == list(range(1, len(stored) + 1))
    first = min(message["seq"] for message in acked)
    since = {row["client_id"] for row in stored if row["seq"] >= first}
    assert since == {message["client_id"] for message in acked}, "a message nobody sent"


def assert_nothing_lost(
    cluster: Cluster, acked: list[dict[str, Any]], *participants: Participant
) -> None:
    """Every acknowledged message is stored once (:func:`assert_stored_once`) and each of
    ``participants`` holds the whole conversation (:func:`assert_gap_free`)."""
    assert_stored_once(cluster, acked)
    for participant in participants:
        assert_gap_free(cluster, participant)


def assert_gap_free(cluster: Cluster, participant: Participant) -> None:
    """After catching up as the protocol says, ``participant`` holds every stored message of
    the conversation, each as stored, once."""
    participant.catch_up()
    stored = cluster.stored(cluster.personas.conversation_id)
    held = participant.holding()
    assert sorted(held) == [row["seq"] for row in stored], f"{participant.who} has holes"
    for row in stored:
        assert held[row["seq"]]["id"] == row["id"]
        assert held[row["seq"]]["client_id"] == row["client_id"]


class Sender(threading.Thread):
    """Sends numbered messages as fast as acknowledgements come back, until stopped."""

    def __init__(self, participant: Participant) -> None:
        super().__init__(name=f"sender-{participant.who}", daemon=True)
        self.participant = participant
        self.acked: list[dict[str, Any]] = []
        self.failure: BaseException | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        n = 0
        try:
            while not self._stop_event.is_set():
                self.acked.append(self.participant.send(f"{self.participant.who} {n}"))
                n += 1
        except BaseException as exc:  # reported by the test
            self.failure = exc

    def wait_for(self, count: int, timeout: float = WAIT) -> None:
        wait_until(
            lambda: len(self.acked) >= count or self.failure is not None, f"{count} acks", timeout
        )
        assert self.failure is None, self.failure

    def finish(self) -> list[dict[str, Any]]:
        self._stop_event.set()
        self.join(timeout=2 * WAIT)
        assert not self.is_alive(), "the sender is stuck"
        assert self.failure is None, self.failure
        return self.acked
