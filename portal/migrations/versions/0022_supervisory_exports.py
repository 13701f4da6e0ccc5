"""supervisory exports and their stored files

Revision ID: 0022_supervisory_exports
Revises: 0021_audit_personal
Create Date: 2026-11-27 03:00:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0022_supervisory_exports"
down_revision = "0021_audit_personal"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
