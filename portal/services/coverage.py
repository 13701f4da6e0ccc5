"""Who covers whom: the field team (reps and MSLs) of an HCP's territory."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.models import Role, Team, TeamMembership, Territory, User
from portal.models.user import staff_territories
from portal.policy import FIELD_ROLES


def load_teammates(staff: User) -> None:
    """Read the members of ``staff``'s teams and the members' products in a few statements
    however many, ahead of :func:`portal.policy.covered_product_ids` (which walks them: a
    teammate's products are shareable by a medical colleague), so that it walks loaded objects
    instead of reading each colleague and their products one by one."""
    team_ids = [membership.team_id for membership in staff.memberships]
    if team_ids:
        db.session.scalars(
            select(Team)
            .where(Team.id.in_(team_ids))
            .options(
                selectinload(Team.memberships)
                .joinedload(TeamMembership.user)
                .selectinload(User.products)
            )
        ).all()


def field_team_for(hcp: User) -> Sequence[User]:
    """The active reps and MSLs covering ``hcp``'s territory, MSLs first, then by name."""
    territory: Territory | None = hcp.territory
    if territory is None:
        return []
    # The territory's staff first, then those people by id: joined in one statement,
    # PostgreSQL merges the two in id order and, with no field staff past the territory's last
    # one, reads every user to the end of the table (50,000 at a year of data).
    covering = db.session.scalars(
        select(staff_territories.c.user_id).where(staff_territories.c.territory_id == territory.id)
    ).all()
    if not covering:
        return []
    team = db.session.scalars(
        select(User)
        .options(selectinload(User.products))
        .where(
            User.id.in_(covering),
            User.role.in_(list(FIELD_ROLES)),
            User.suspended.is_(False),
        )
    ).all()
    return sorted(team, key=lambda u: (u.role is not Role.MSL, u.name))
