"""placeholder: filled in by the part of issue 16 that owns it

Revision ID: 0017_insights
Revises: 0016_webhooks
Create Date: 2026-11-26 23:30:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0017_insights"
down_revision = "0016_webhooks"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
