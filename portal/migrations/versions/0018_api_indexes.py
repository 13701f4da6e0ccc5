"""the integration API: indexes for reading every HCP's events newest first, and the CRM's
idempotency keys of call notes

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

# (name, table, columns): each source of /api/v1/interactions (and the questions and PV cases
# lists) is read "newest first, before the cursor" across HCPs: a range on its time column.
INDEXES = [
    ("ix_material_events_kind_at", "material_events", ["kind", "at", "id"]),
    ("ix_bookmarks_created", "bookmarks", ["created_at"]),
    ("ix_contact_preference_changes_at", "contact_preference_changes", ["at", "id"]),
    ("ix_question_events_kind_at", "question_events", ["kind", "at", "id"]),
    ("ix_chat_invitations_created", "chat_invitations", ["created_at", "id"]),
    ("ix_chat_consents_granted", "chat_consents", ["granted_at", "id"]),
    ("ix_chat_consents_withdrawn", "chat_consents", ["withdrawn_at", "id"]),
    ("ix_material_shares_created", "material_shares", ["created_at", "id"]),
    ("ix_meetings_created", "meetings", ["created_at", "id"]),
    ("ix_meetings_state_decided", "meetings", ["state", "decided_at", "id"]),
    ("ix_call_notes_occurred", "call_notes", ["occurred_at", "id"]),
    ("ix_users_role_created", "users", ["role", "created_at", "id"]),
    ("ix_hcp_profiles_verified", "hcp_profiles", ["verification", "verified_at", "user_id"]),
    ("ix_pv_cases_created", "pv_cases", ["created_at", "id"]),
]


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    op.create_table(
        "api_call_notes",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("call_note_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_api_call_notes_token_id_api_tokens")
        ),
        sa.ForeignKeyConstraint(
            ["call_note_id"],
            ["call_notes.id"],
            name=op.f("fk_api_call_notes_call_note_id_call_notes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", "external_id", name=op.f("pk_api_call_notes")),
    )
    op.create_index("ix_api_call_notes_call_note", "api_call_notes", ["call_note_id"])


def downgrade():
    op.drop_index("ix_api_call_notes_call_note", table_name="api_call_notes")
    op.drop_table("api_call_notes")
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
