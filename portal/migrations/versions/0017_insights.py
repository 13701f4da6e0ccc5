"""Insights: the library's search log, questions' business response and close times, and the
indexes the Content and Questions dashboards read.

``questions.first_response_at``, ``first_response_business_minutes`` and
``close_business_minutes`` are backfilled for
the questions already answered or closed, on the same calendar the portal uses (the pure
``portal.questions.calendar`` arithmetic, the configured working day, the company holidays and
each team's country and time zone). The first response is the question's first reply in its
thread; a question answered before this revision with no reply entry keeps NULL (not counted).

Revision ID: 0017_insights
Revises: 0016_webhooks
Create Date: 2026-11-26 23:30:00

"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0017_insights"
down_revision = "0016_webhooks"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "search_terms",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("query", sa.String(length=200), nullable=False),
        sa.Column("searches", sa.Integer(), nullable=False),
        sa.Column("no_result", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "query", name=op.f("pk_search_terms")),
    )
    with op.batch_alter_table("questions") as batch:
        batch.add_column(sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("first_response_business_minutes", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("close_business_minutes", sa.Integer(), nullable=True))
    op.create_index("ix_questions_created", "questions", ["created_at"])
    op.create_index(
        "ix_material_events_at", "material_events", ["at", "family_id", "user_id", "kind"]
    )
    _backfill()


def downgrade():
    op.drop_index("ix_material_events_at", table_name="material_events")
    op.drop_index("ix_questions_created", table_name="questions")
    with op.batch_alter_table("questions") as batch:
        batch.drop_column("close_business_minutes")
        batch.drop_column("first_response_business_minutes")
        batch.drop_column("first_response_at")
    op.drop_table("search_terms")


def _config():
    try:
        from flask import current_app

        config = current_app.config
        return (
            config.get("BUSINESS_TIMEZONE") or "America/New_York",
            config.get("BUSINESS_OPENS") or "09:00",
            config.get("BUSINESS_CLOSES") or "17:00",
        )
    except RuntimeError:  # no app context: the defaults of portal/config.py
        return "America/New_York", "09:00", "17:00"


def _aware(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _backfill():
    from portal.questions.calendar import BusinessCalendar

    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT q.id, q.owner_team, q.created_at, q.closed_at, "
            "(SELECT MIN(e.created_at) FROM question_entries e "
            " WHERE e.question_id = q.id AND e.kind = 'reply') AS first_reply "
            "FROM questions q WHERE q.answered_at IS NOT NULL OR q.closed_at IS NOT NULL"
        )
    ).all()
    if not rows:
        return
    zone, opens, closes = _config()
    company_days = frozenset(
        _day(d) for (d,) in bind.execute(sa.text("SELECT day FROM holidays")).all()
    )
    teams = {
        key: (country, timezone)
        for key, country, timezone in bind.execute(
            sa.text("SELECT key, country, timezone FROM teams")
        ).all()
    }
    calendars = {}

    def calendar(team):
        if team not in calendars:
            country, timezone = teams.get(team, (None, None))
            calendars[team] = BusinessCalendar(
                timezone=timezone or zone,
                opens=dt.time.fromisoformat(opens),
                closes=dt.time.fromisoformat(closes),
                holidays=company_days,
                country=country,
            )
        return calendars[team]

    updates = []
    for question_id, team, created_at, closed_at, first_reply in rows:
        start = _aware(created_at)
        cal = calendar(team)

        def minutes(end, cal=cal, start=start):
            end = _aware(end)
            if end is None:
                return None
            return max(0, round(cal.business_hours_between(start, end) * 60))

        updates.append(
            {
                "id": question_id,
                "first_at": first_reply,
                "first": minutes(first_reply),
                "close": minutes(closed_at),
            }
        )
    bind.execute(
        sa.text(
            "UPDATE questions SET first_response_at = :first_at, "
            "first_response_business_minutes = :first, "
            "close_business_minutes = :close WHERE id = :id"
        ),
        updates,
    )


def _day(value):
    return dt.date.fromisoformat(value) if isinstance(value, str) else value
