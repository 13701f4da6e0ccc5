"""indexes behind the insight dashboards' range reads at a year of data (bench/pages.py)

Revision ID: 0019_insight_indexes
Revises: 0018_api_indexes
Create Date: 2026-11-26 23:59:00

"""

from alembic import op


revision = "0019_insight_indexes"
down_revision = "0018_api_indexes"
branch_labels = None
depends_on = None

INDEXES = [
    # Chat and contact: messages of a date range (activity, staff response time).
    ("ix_chat_messages_sent_at", "chat_messages", ["sent_at", "conversation_id"]),
    # The contact caps: counted contacts of a 30-day window across all HCPs.
    ("ix_contacts_at", "contacts", ["at", "counted", "side", "hcp_id"]),
    # The contact rule's refusals per week.
    ("ix_audit_records_action_at", "audit_records", ["action", "at"]),
    # The product funnel: meetings that took place.
    ("ix_meetings_state_starts", "meetings", ["state", "starts_at"]),
    # Adoption and Content: an HCP's events of a range with what they were about, index only.
    (
        "ix_material_events_user_cover",
        "material_events",
        ["user_id", "at", "kind", "family_id", "material_id"],
    ),
    # The product funnel: a material's product without reading the wide materials row.
    ("ix_materials_id_product", "materials", ["id", "product_id"]),
    # Adoption: did this HCP write a chat message in the range (one seek per HCP).
    ("ix_chat_messages_sender_sent", "chat_messages", ["sender_id", "sent_at", "conversation_id"]),
    # Chat response time: every conversation's messages in order, read from the index alone.
    (
        "ix_chat_messages_conversation",
        "chat_messages",
        ["conversation_id", "seq", "sender_id", "sent_at"],
    ),
    # The Questions dashboard and adoption's SLA: a date range of questions with every column
    # their panels count, read from the index alone.
    (
        "ix_questions_created_cover",
        "questions",
        [
            "created_at",
            "category",
            "owner_team",
            "off_label_flag",
            "product_id",
            "hcp_id",
            "status",
            "due_at",
            "first_response_at",
            "closed_at",
            "helpful",
            "first_response_business_minutes",
            "close_business_minutes",
        ],
    ),
    # Adoption: an HCP's questions of a range and what they were about (the funnel's step two).
    (
        "ix_questions_hcp_cover",
        "questions",
        ["hcp_id", "created_at", "product_id", "category", "off_label_flag", "owner_team"],
    ),
]


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade():
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
