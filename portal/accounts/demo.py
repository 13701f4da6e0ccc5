"""Demo data for the account team (to be built)."""

from __future__ import annotations


def seed_account_team() -> str | None:
    """Months of engagement on both sides of the firewall (to be built)."""
    return None
