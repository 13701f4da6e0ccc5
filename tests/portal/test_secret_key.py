"""``SECRET_KEY`` signs sessions and links. On the embedded default a key generated into
``instance/secret_key`` does; once processes share data (``DATABASE_URL`` or ``REDIS_URL`` set),
each would generate a key of its own and refuse the others' cookies and links, so every process
refuses to start without one, in one line. Tests and debug runs are exempt, as for ``PUBLIC_URL``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from portal import create_app
from portal.config import SecretKeyError
from tests.conftest import ROOT, _free_port, base_config

SHARED = [
    pytest.param({"DATABASE_URL": "postgresql://portal@db.internal/portal"}, id="database-url"),
    pytest.param({"REDIS_URL": "redis://redis.internal:6379/0"}, id="redis-url"),
]


def _production(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    return base_config(
        tmp_path,
        **{
            "TESTING": False,
            "DEBUG": False,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'portal.db'}",
            "SECRET_KEY": None,
            **overrides,
        },
    )


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "FLASK_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("shared", SHARED)
def test_a_process_sharing_data_refuses_to_start_without_a_secret_key(
    tmp_path, environment, shared
):
    redis_url = shared.get("REDIS_URL")
    for name, value in shared.items():
        environment.setenv(name, value)

    with pytest.raises(SecretKeyError, match="SECRET_KEY is not set"):
        create_app(_production(tmp_path, REDIS_URL=redis_url))

    assert not (tmp_path / "instance" / "secret_key").exists()


@pytest.mark.parametrize("shared", SHARED)
def test_a_process_sharing_data_starts_with_its_secret_key(tmp_path, environment, shared):
    environment.setenv("SECRET_KEY", "the-same-on-every-process")
    for name, value in shared.items():
        environment.setenv(name, value)

    config = _production(tmp_path, REDIS_URL=shared.get("REDIS_URL"))
    del config["SECRET_KEY"]  # the environment's

    app = create_app(config)

    assert app.config["SECRET_KEY"] == "the-same-on-every-process"


def test_the_embedded_default_generates_a_key_once_and_keeps_it(tmp_path, environment):
    first = create_app(_production(tmp_path))
    again = create_app(_production(tmp_path))

    key_file = tmp_path / "instance" / "secret_key"
    assert first.config["SECRET_KEY"] == again.config["SECRET_KEY"] == key_file.read_text()
    assert len(first.config["SECRET_KEY"]) == 64
    assert key_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "exempt",
    [pytest.param({"DEBUG": True}, id="debug"), pytest.param({"TESTING": True}, id="test")],
)
def test_debug_and_test_runs_sharing_data_may_use_a_generated_key(tmp_path, environment, exempt):
    environment.setenv("DATABASE_URL", "postgresql://portal@db.internal/portal")

    app = create_app(_production(tmp_path, **exempt))

    assert app.config["SECRET_KEY"] == (tmp_path / "instance" / "secret_key").read_text()


def _environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "FLASK_DEBUG")
    }
    return {
        **env,
        "PORTAL_INSTANCE_PATH": str(tmp_path),
        "PUBLIC_URL": "https://portal.example.org",
        "HOST": "127.0.0.1",
        "PORT": str(_free_port()),
        **settings,
    }


@pytest.mark.parametrize(
    ("argv", "first_line"),
    [
        pytest.param([sys.executable, "wsgi.py"], "error: SECRET_KEY", id="python-wsgi"),
        pytest.param(
            [sys.executable, "-m", "flask", "--app", "wsgi", "init-db"],
            "Error: SECRET_KEY",
            id="flask-command",
        ),
    ],
)
def test_server_and_commands_refuse_in_one_line(tmp_path: Path, argv, first_line) -> None:
    env = _environment(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'shared.db'}")

    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode != 0
    assert done.stderr.strip().startswith(first_line), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "shared.db").exists()
