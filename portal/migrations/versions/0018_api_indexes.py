"""placeholder: filled in by the part of issue 16 that owns it

Revision ID: 0018_api_indexes
Revises: 0017_insights
Create Date: 2026-11-26 23:30:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0018_api_indexes"
down_revision = "0017_insights"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
