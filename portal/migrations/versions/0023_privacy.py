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
    op.create_table(
        "erasure_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "done", name="erasurestatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pseudonym", sa.String(length=64), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_erasure_requests_requested_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_erasure_requests_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_requests")),
    )
    op.create_index(
        "ix_erasure_requests_status", "erasure_requests", ["status", "requested_at"], unique=False
    )
    op.create_index(
        op.f("ix_erasure_requests_user_id"), "erasure_requests", ["user_id"], unique=False
    )


def downgrade():
    op.drop_index(op.f("ix_erasure_requests_user_id"), table_name="erasure_requests")
    op.drop_index("ix_erasure_requests_status", table_name="erasure_requests")
    op.drop_table("erasure_requests")
