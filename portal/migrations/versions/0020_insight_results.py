"""computed insight dashboards, kept for a while and refreshed by the worker

Revision ID: 0020_insight_results
Revises: 0019_insight_indexes
Create Date: 2026-11-27 00:10:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0020_insight_results"
down_revision = "0019_insight_indexes"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "insight_results",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("dashboard", sa.String(length=40), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("panels", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_insight_results")),
    )
    op.create_index("ix_insight_results_computed", "insight_results", ["computed_at"])


def downgrade():
    op.drop_index("ix_insight_results_computed", table_name="insight_results")
    op.drop_table("insight_results")
