"""Who covers whom: the field team (reps and MSLs) of an HCP's territory."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.models import Role, Territory, User
from portal.models.user import staff_territories
from portal.policy import FIELD_ROLES


def field_team_for(hcp: User) -> Sequence[User]:
    """The active reps and MSLs covering ``hcp``'s territory, MSLs first, then by name."""
    territory: Territory | None = hcp.territory
    if territory is None:
        return []
    team = db.session.scalars(
        select(User)
        .options(selectinload(User.products))
        .join(staff_territories, staff_territories.c.user_id == User.id)
        .where(
            staff_territories.c.territory_id == territory.id,
            User.role.in_(list(FIELD_ROLES)),
            User.suspended.is_(False),
        )
    ).all()
    return sorted(team, key=lambda u: (u.role is not Role.MSL, u.name))
