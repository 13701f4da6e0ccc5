"""The API's resources, one flask-smorest blueprint each."""

from __future__ import annotations

from flask_smorest import Blueprint


def all_blueprints() -> list[tuple[Blueprint, str]]:
    """(blueprint, mount point under /api/v1) for every resource."""
    from portal.api.resources import meta

    return [(meta.blueprint, "")]
