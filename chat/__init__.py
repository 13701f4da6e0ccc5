"""Secure chat: opt-in private conversations between HCPs and their reps or MSLs."""

from chat.views import blueprint

__all__ = ["blueprint"]
