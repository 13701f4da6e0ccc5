"""Shared fixtures: a fresh app and an empty, migrated database for every test.

Every test that takes ``app`` runs on SQLite and, when ``TEST_DATABASE_URL`` is set, once more on
that PostgreSQL server (each pytest-xdist worker in a schema of its own).
"""

from __future__ import annotations

import os
import shutil
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

PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def login(client: FlaskClient, email: str, password: str = PASSWORD, **kwargs: Any) -> Any:
    """Sign in through the real form; returns the response."""
    return client.post("/login", data={"email": email, "password": password}, **kwargs)
