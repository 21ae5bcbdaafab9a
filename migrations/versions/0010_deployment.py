"""The deployment's identity: one row with a random id, written once here, that names this
deployment's queues on the broker and rides on each grading message (a broker shared by mistake
then costs no grading).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-18
"""
from __future__ import annotations

import secrets
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "deployment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_deployment_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment")),
    )
    op.bulk_insert(table, [{"id": 1, "deployment_id": secrets.token_hex(16),
                            "created_at": datetime.now(timezone.utc)}])


def downgrade() -> None:
    op.drop_table("deployment")
