"""Pre-call planning for the HCP page (stub: helper A2 replaces this module)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from portal.models import User


@dataclasses.dataclass
class Plan:
    """What a viewer needs before their next interaction with an HCP."""

    interests: list[Any] = dataclasses.field(default_factory=list)


def plan_for(viewer: User, hcp: User, *, now: dt.datetime | None = None) -> Plan:
    return Plan()
