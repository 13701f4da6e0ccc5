"""Chat personas and conversations, made through the real chat services.

``chat_pair`` gives an HCP and a staff member who covers the HCP's territory (so the HCP may opt
in); ``active_conversation`` is the HCP's opt-in with the current consent wording; ``send``
sends a text message with a fresh client id unless one is given.
"""

from __future__ import annotations

import uuid
from typing import Any

from chat import consent, messages
from chat.models import Conversation
from portal.models import Role, Territory, User
from tests.factories import make_hcp, make_territory, make_user


def chat_pair(role: Role = Role.MSL, **hcp_overrides: Any) -> tuple[User, User, Territory]:
    """A verified HCP and a rep or MSL covering the HCP's territory: ``(hcp, staff, territory)``."""
    territory = make_territory()
    hcp = make_hcp(territory=territory, **hcp_overrides)
    staff = make_user(role, territories=[territory])
    return hcp, staff, territory


def active_conversation(hcp: User, staff: User) -> Conversation:
    """The HCP opts in to chat with ``staff`` with the wording shown now."""
    return consent.start_chat(hcp, staff.id, wording_id=consent.consent_wording().id)


def send(
    user: User, conversation: Conversation, body: str, client_id: str | None = None
) -> dict[str, Any]:
    """Send a text message as ``user``; returns the MESSAGE payload."""
    payload, _created = messages.send_message(
        user, conversation.id, client_id=client_id or str(uuid.uuid4()), body=body
    )
    return payload
