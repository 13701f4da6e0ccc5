"""The rep's and MSL's home page: what waits for them."""

from __future__ import annotations

from typing import Any

from portal.models import User


def home_panel(user: User) -> tuple[str, dict[str, Any]] | None:
    """Reps and MSLs: their worklist (to be built)."""
    return None
