"""indexes behind the pages' lists at a year of data (bench/pages.py at seed-scale)

Revision ID: 0012_page_indexes
Revises: 0011_locale_timezone
Create Date: 2026-12-06 00:00:01

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0012_page_indexes"
down_revision = "0011_locale_timezone"
branch_labels = None
depends_on = None

# (index, table, columns): what each list or count reads, in its order.
INDEXES = [
    # "For you": peers' recent views of the candidate materials.
    ("ix_material_events_family_at", "material_events", ["family_id", "at"]),
    # The audit trail filtered by its target ("everything about question 15").
    ("ix_audit_records_target", "audit_records", ["target_type", "target_id", "id"]),
    # The audit trail filtered by who acted.
    ("ix_audit_records_actor", "audit_records", ["actor_id", "id"]),
    # The questions moved away from a team (the queue page's "moved away" list).
    ("ix_question_events_kind_question", "question_events", ["kind", "question_id"]),
    # The content workspace, most recently changed first (everyone's, and the author's own).
    ("ix_materials_updated", "materials", ["updated_at"]),
    ("ix_materials_author_updated", "materials", ["author_id", "updated_at"]),
    # Chat's unread counts: a reader's own last message in a conversation.
    ("ix_chat_messages_sender_seq", "chat_messages", ["conversation_id", "sender_id", "seq"]),
]


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade():
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
