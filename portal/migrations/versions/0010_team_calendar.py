"""teams: the country (public holidays) and time zone their due times run on

Revision ID: 0010_team_calendar
Revises: 0009_restricted_phrases_readd
Create Date: 2026-12-04 00:00:01

"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "0010_team_calendar"
down_revision = "0009_restricted_phrases_readd"
branch_labels = None
depends_on = None


def upgrade():
    # Existing teams keep no country: their due times stay on the company calendar (with the
    # holidays administrators typed in) until someone chooses the team's country.
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("country", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_column("timezone")
        batch_op.drop_column("country")
