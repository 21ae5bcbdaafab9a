"""Course rules and visibility: the exercises' tests (with their visibility), submission limits,
publication, per-student extensions, the course's gradebook policy.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("exercises") as batch:
        batch.add_column(sa.Column("tests", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("max_submissions", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("window_hours", sa.Float(), nullable=True))
        batch.add_column(sa.Column("cooloff_minutes", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("published_at", UTC, nullable=True))
        batch.add_column(sa.Column("show_hidden_points", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("rules_edited_at", UTC, nullable=True))
    op.create_table(
        "extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("exercise_id", sa.String(length=64), nullable=False),
        sa.Column("due_at", UTC, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_extensions_user_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["exercise_id"], ["exercises.id"], name=op.f("fk_extensions_exercise_id_exercises"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extensions")),
        sa.UniqueConstraint("user_id", "exercise_id", name=op.f("uq_extensions_user_id_exercise_id")),
    )
    op.create_table(
        "course_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gradebook_policy", sa.String(length=16), nullable=False, server_default="best"),
        sa.CheckConstraint("gradebook_policy IN ('best', 'latest')", name=op.f("ck_course_settings_gradebook_policy")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_settings")),
    )


def downgrade() -> None:
    op.drop_table("course_settings")
    op.drop_table("extensions")
    with op.batch_alter_table("exercises") as batch:
        for column in ("rules_edited_at", "show_hidden_points", "published_at", "cooloff_minutes",
                       "window_hours", "max_submissions", "tests"):
            batch.drop_column(column)
