"""Fixtures shared by the chat tests."""

from __future__ import annotations

from typing import Any

import pytest

from portal.extensions import socketio


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, dict[str, Any]]]:
    """Every Socket.IO emit actually sent (after commit), in order."""
    calls: list[tuple[str, Any, dict[str, Any]]] = []

    def record(event: str, data: Any = None, **kwargs: Any) -> None:
        calls.append((event, data, kwargs))

    monkeypatch.setattr(socketio, "emit", record)
    return calls
