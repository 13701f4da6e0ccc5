"""The API's resources, one flask-smorest blueprint each."""

from __future__ import annotations

from flask_smorest import Blueprint


def all_blueprints() -> list[tuple[Blueprint, str]]:
    """(blueprint, mount point under /api/v1) for every resource."""
    from portal.api.resources import (
        call_notes,
        hcps,
        interactions,
        materials,
        meta,
        pv_cases,
        questions,
    )

    return [
        (meta.blueprint, ""),
        (materials.blueprint, ""),
        (hcps.blueprint, ""),
        (interactions.blueprint, ""),
        (questions.blueprint, ""),
        (pv_cases.blueprint, ""),
        (call_notes.blueprint, ""),
    ]
