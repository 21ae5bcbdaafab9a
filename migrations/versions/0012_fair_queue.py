"""Fair queues: a submission says whether its grading is bulk work (a regrade), which goes behind
students' first gradings; an index on the status, which the queue's order reads on every upload,
finish and status poll (the queue order module).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("bulk", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_submissions_status", "submissions", ["status"])


def downgrade() -> None:
    op.drop_index("ix_submissions_status", table_name="submissions")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("bulk")
