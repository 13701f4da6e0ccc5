"""Scale-out: with REDIS_URL set, processes share throttling counters and the Socket.IO queue."""

from __future__ import annotations

import uuid

import pytest
import socketio as python_socketio

from portal import create_app
from portal.extensions import socketio
from tests.conftest import login


@pytest.fixture
def shared_config(app_config, redis_url):
    prefix = f"test-{uuid.uuid4().hex}"
    return {
        **app_config,
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url,
        "RATELIMIT_KEY_PREFIX": prefix,
        "RATELIMIT_ENABLED": True,
        "LOGIN_RATE_LIMIT": "3 per minute",
    }


def test_login_throttling_is_shared_between_processes(shared_config):
    # Two app instances stand for two server processes behind a load balancer.
    first, second = create_app(shared_config), create_app(shared_config)
    statuses = []
    for application in (first, second, first, second):
        with application.app_context():
            statuses.append(
                login(application.test_client(), "nobody@example.com", "wrong").status_code
            )
    assert statuses == [200, 200, 200, 429]


def test_socketio_uses_the_redis_message_queue(shared_config):
    create_app(shared_config)
    assert isinstance(socketio.server.manager, python_socketio.RedisManager)


def test_socketio_runs_in_one_process_without_redis(app_config):
    create_app({**app_config, "REDIS_URL": None})
    assert not isinstance(socketio.server.manager, python_socketio.RedisManager)
