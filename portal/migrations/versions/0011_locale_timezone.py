"""users: the language and time zone each person chose for pages, mail and dates

Revision ID: 0011_locale_timezone
Revises: 0010_team_calendar
Create Date: 2026-12-05 00:00:01

"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "0011_locale_timezone"
down_revision = "0010_team_calendar"
branch_labels = None
depends_on = None


def upgrade():
    # Existing users choose nothing: their browser's language and time zone apply until they do.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("timezone")
        batch_op.drop_column("locale")
