"""Shared fixtures: a fresh app and an empty, migrated database for every test.

Every test that takes ``app`` runs on SQLite and, when ``TEST_DATABASE_URL`` is set, once more on
that PostgreSQL server (each pytest-xdist worker in a schema of its own).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from portal import create_app
from portal.extensions import db
from portal.services.demo import ensure_reference_data
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "").strip()
PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Live events of this test process (and the servers it starts, which inherit the environment)
# travel on a channel of their own: pub/sub channels ignore Redis's database number, and two
# xdist workers' servers would otherwise hear each other's rooms.
os.environ["SOCKETIO_CHANNEL"] = f"portal-test-{os.getpid()}"


def pytest_sessionstart(session: pytest.Session) -> None:
    if PG_URL:
        try:
            engine = create_engine(_pg_sqlalchemy_url(PG_URL))
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            engine.dispose()
        except Exception as exc:
            pytest.exit(
                f"TEST_DATABASE_URL is set but PostgreSQL is unreachable: {exc}", returncode=1
            )


def _pg_sqlalchemy_url(url: str) -> str:
    from portal.config import normalize_database_url

    return normalize_database_url(url)


def base_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "SESSION_COOKIE_SECURE": False,
        "REMEMBER_COOKIE_SECURE": False,
        "MAIL_SERVER": None,
        "REDIS_URL": None,
        "SOCKETIO_ASYNC_MODE": "threading",
        "PUBLIC_URL": "http://portal.test",
        # The test client's default host; any other Host header is refused.
        "ALLOWED_HOSTS": ["localhost"],
        "PASSWORD_HASH_PROFILE": "cheapest",
        # Staff sign in with the password alone unless a test turns this on (tests/portal/
        # test_two_factor.py); an enrolled account is asked for its code either way.
        "TWO_FACTOR_REQUIRED": False,
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database, copied for each test (migrating once is the slow part)."""
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.db"
    app = create_app(base_config(folder, SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}"))
    with app.app_context():
        upgrade()
        ensure_reference_data()
        db.session.remove()
        db.engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_schema(
    worker_id: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A migrated schema of this worker's own on the PostgreSQL test server."""
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    url = _pg_sqlalchemy_url(PG_URL)
    schema = f"t_{worker_id}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    app = create_app(base_config(tmp_path_factory.mktemp("pg"), **_pg_config(url, schema)))
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()
    yield url, schema
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def _pg_config(url: str, schema: str) -> dict[str, Any]:
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={schema}"}},
    }


def _empty_pg(schema: str) -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    quoted = ", ".join(f'"{schema}"."{name}"' for name in tables)
    db.session.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    db.session.commit()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def app_config(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The configuration of this test's app; override keys by marking the test or module with
    ``@pytest.mark.app_config(KEY=value)``."""
    overrides: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("app_config"))):
        overrides.update(marker.kwargs)
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "portal.db"
        shutil.copyfile(template, path)
        db_config = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"}
    else:
        url, schema = request.getfixturevalue("pg_schema")
        db_config = {**_pg_config(url, schema), "_TEST_PG_SCHEMA": schema}
    return base_config(tmp_path, **db_config, **overrides)


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    application = create_app(app_config)
    with application.app_context():
        schema = application.config.get("_TEST_PG_SCHEMA")
        if schema:
            _empty_pg(schema)
            ensure_reference_data()
        yield application
        db.session.remove()
        db.engine.dispose()


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in an app context of its own, as in production.

    The test itself holds one app context for factories and assertions; without this, requests
    would share that context's ``g`` (where Flask-Login caches the user) with each other.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        db.session.expire_all()  # what the request committed is read afresh by the test
        return response


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    app.test_client_class = IsolatedClient
    return app.test_client()


def login(client: FlaskClient, email: str, password: str = PASSWORD, **kwargs: Any) -> Any:
    """Sign in through the real form; returns the response."""
    return client.post("/login", data={"email": email, "password": password}, **kwargs)


@pytest.fixture
def redis_url() -> str:
    """The Redis server named by ``TEST_REDIS_URL`` (required in CI, skipped elsewhere if unset)."""
    if not REDIS_URL:
        if IN_CI:
            pytest.fail("TEST_REDIS_URL must be set in CI")
        pytest.skip("TEST_REDIS_URL is not set")
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.fail(f"TEST_REDIS_URL is set but Redis is unreachable: {exc}")
    return REDIS_URL


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the portal exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the portal did not become healthy:\n{log.read_text()}")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The portal served by `python wsgi.py` on a free loopback port, with demo data."""
    instance = tmp_path_factory.mktemp("live-instance")
    port = _free_port()
    env = {
        **os.environ,
        "PORTAL_INSTANCE_PATH": str(instance),
        "DATABASE_URL": f"sqlite:///{instance / 'portal.db'}",
        "SECRET_KEY": "browser-test-secret",
        "SESSION_COOKIE_SECURE": "false",
        # Every browser test signs in through this one server from one address: a quick run
        # must not meet the per-address sign-in limit meant for strangers.
        "LOGIN_RATE_LIMIT": "1000 per minute",
        # The demo accounts sign in with their password alone, as under `make run`.
        "TWO_FACTOR_REQUIRED": "false",
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    env.pop("REDIS_URL", None)
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    for command in (["init-db"], ["seed-demo", "--quiet"]):
        subprocess.run(flask + command, cwd=ROOT, env=env, check=True, capture_output=True)
    log = instance / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "wsgi.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, log)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
