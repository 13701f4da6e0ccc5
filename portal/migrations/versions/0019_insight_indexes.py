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
]


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade():
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
