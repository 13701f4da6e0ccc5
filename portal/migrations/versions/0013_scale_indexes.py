"""indexes behind the workspace, the staff panel and "For you" at a year of data (bench/pages.py)

Revision ID: 0013_scale_indexes
Revises: 0012_page_indexes
Create Date: 2026-11-26 00:00:01

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0013_scale_indexes"
down_revision = "0012_page_indexes"
branch_labels = None
depends_on = None

QUEUE_COLUMNS = ["owner_team", "status", "due_at"]
# The staff panel's counts (open, mine, unassigned, overdue of a team's open questions) read
# every column they test from the index: 7,000 open questions of a team counted in 2.5 ms
# instead of 14 ms on SQLite. Its first columns are the index it replaces.
COVERING_COLUMNS = [*QUEUE_COLUMNS, "assignee_id", "category", "off_label_flag"]


def upgrade():
    # "Awaiting your review": the versions in review, oldest change first, read in order
    # rather than sorted (thousands in review at a year of data).
    op.create_index("ix_materials_status_updated", "materials", ["status", "updated_at"])
    # By expiry: the "expired" count (approved, expiry passed) and "expiring soon" read 90,000
    # approved versions to find their first ones without it. SQLite is told to use it by name
    # (content.services.dashboard): it prefers the status indexes, even with statistics.
    op.create_index("ix_materials_expires", "materials", ["expires_at"])
    op.create_index("ix_questions_team_open", "questions", COVERING_COLUMNS)
    op.drop_index("ix_questions_team_status_due", table_name="questions")
    # "For you": peers' views of the candidate materials with the viewer in the index, so that
    # PostgreSQL reads no table row for them (a year is 1,000,000 views).
    op.create_index(
        "ix_material_events_family_at_user", "material_events", ["family_id", "at", "user_id"]
    )
    op.drop_index("ix_material_events_family_at", table_name="material_events")


def downgrade():
    op.create_index("ix_material_events_family_at", "material_events", ["family_id", "at"])
    op.drop_index("ix_material_events_family_at_user", table_name="material_events")
    op.create_index("ix_questions_team_status_due", "questions", QUEUE_COLUMNS)
    op.drop_index("ix_questions_team_open", table_name="questions")
    op.drop_index("ix_materials_expires", table_name="materials")
    op.drop_index("ix_materials_status_updated", table_name="materials")
