"""restricted phrases: a removed phrase can be added again (only phrases in force are unique)

Revision ID: 0009_restricted_phrases_readd
Revises: 0008_jobs
Create Date: 2026-12-03 00:00:01

"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "0009_restricted_phrases_readd"
down_revision = "0008_jobs"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("chat_restricted_phrases", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_chat_restricted_phrases_phrase"), type_="unique")
        batch_op.create_index(
            "uq_chat_restricted_phrases_active_phrase",
            ["phrase"],
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )


def downgrade():
    # Only the newest row of a phrase added again survives: the others cannot share its text.
    op.execute(
        "DELETE FROM chat_restricted_phrases WHERE id NOT IN "
        "(SELECT MAX(id) FROM chat_restricted_phrases GROUP BY phrase)"
    )
    with op.batch_alter_table("chat_restricted_phrases", schema=None) as batch_op:
        batch_op.drop_index("uq_chat_restricted_phrases_active_phrase")
        batch_op.create_unique_constraint(
            batch_op.f("uq_chat_restricted_phrases_phrase"), ["phrase"]
        )
