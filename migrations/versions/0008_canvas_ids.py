"""Canvas ids for the gradebook's Canvas export: a user's SIS User ID and Canvas user id (from a
roster or an LTI launch), and the Canvas assignment an exercise's column fills.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("sis_user_id", sa.String(100)))
        batch.add_column(sa.Column("canvas_user_id", sa.String(32)))
    with op.batch_alter_table("exercises") as batch:
        batch.add_column(sa.Column("canvas_assignment_id", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("exercises") as batch:
        batch.drop_column("canvas_assignment_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("canvas_user_id")
        batch.drop_column("sis_user_id")
