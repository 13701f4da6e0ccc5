"""retention periods, legal holds and purge runs

Revision ID: 0024_retention
Revises: 0023_privacy
Create Date: 2026-11-27 03:00:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0024_retention"
down_revision = "0023_privacy"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
