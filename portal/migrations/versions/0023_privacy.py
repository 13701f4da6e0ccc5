"""data-rights requests and erasures

Revision ID: 0023_privacy
Revises: 0022_supervisory_exports
Create Date: 2026-11-27 03:00:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0023_privacy"
down_revision = "0022_supervisory_exports"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
