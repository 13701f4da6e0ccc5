"""Scale-out: with REDIS_URL set, processes share throttling counters and the Socket.IO queue."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import socketio as python_socketio

from portal import create_app
from portal.extensions import socketio
from tests.conftest import ROOT, login

# Another server process: two failed sign-ins from the given client address.
OTHER_PROCESS = """
import json, sys
from portal import create_app
config, address = json.loads(sys.argv[1]), sys.argv[2]
app = create_app(config)
with app.app_context():
    client = app.test_client()
    for _ in range(2):
        response = client.post(
            "/login",
            data={"email": "nobody@example.com", "password": "wrong"},
            environ_base={"REMOTE_ADDR": address},
        )
        print(response.status_code)
"""


def _throttled_config(app_config, storage: str) -> dict:
    return {
        **app_config,
        "REDIS_URL": storage if storage.startswith("redis") else None,
        "RATELIMIT_STORAGE_URI": storage,
        "RATELIMIT_ENABLED": True,
        "LOGIN_RATE_LIMIT": "3 per minute",
    }


def _attempts_across_two_processes(config: dict) -> list[int]:
    address = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    other = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, json.dumps(config), address],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    statuses = [int(line) for line in other.stdout.split()]
    app = create_app(config)
    with app.app_context():
        client = app.test_client()
        for _ in range(2):
            response = login(
                client, "nobody@example.com", "wrong", environ_base={"REMOTE_ADDR": address}
            )
            statuses.append(response.status_code)
    return statuses


def test_login_throttling_is_shared_between_processes(app_config, redis_url):
    statuses = _attempts_across_two_processes(_throttled_config(app_config, redis_url))
    assert statuses == [200, 200, 200, 429]


def test_without_redis_each_process_counts_alone(app_config):
    # The control for the test above: in-memory counters are per process.
    statuses = _attempts_across_two_processes(_throttled_config(app_config, "memory://"))
    assert statuses == [200, 200, 200, 200]


def test_socketio_uses_the_redis_message_queue(app_config, redis_url):
    create_app(_throttled_config(app_config, redis_url))
    assert isinstance(socketio.server.manager, python_socketio.RedisManager)


def test_socketio_runs_in_one_process_without_redis(app_config):
    create_app({**app_config, "REDIS_URL": None})
    assert not isinstance(socketio.server.manager, python_socketio.RedisManager)
