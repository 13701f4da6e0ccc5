"""audit records keep personal data apart from the hashed content

Revision ID: 0021_audit_personal
Revises: 0020_insight_results
Create Date: 2026-11-27 03:00:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0021_audit_personal"
down_revision = "0020_insight_results"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
