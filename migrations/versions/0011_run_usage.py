"""What each grading run cost, measured on the trusted side: CPU seconds of the sandbox's processes,
seconds its processes held the GPU and their peak GPU memory (wall time is duration_s already).
Null for the runs before, and where nothing was measured.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = ("cpu_s", "gpu_s", "gpu_peak_mb")


def upgrade() -> None:
    with op.batch_alter_table("grading_runs") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("grading_runs") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
