"""Exercises say whether they grade on a GPU as a column of their own (the gpu queue, queue
positions and fair queues ask the database, not each row's limits JSON).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exercises") as batch:
        batch.add_column(sa.Column("gpu", sa.Boolean(), nullable=False, server_default=sa.false()))
    # the rows synced before: what their manifest said, kept in the limits JSON until now
    exercises = sa.table("exercises", sa.column("id", sa.String), sa.column("limits", sa.JSON),
                         sa.column("gpu", sa.Boolean))
    connection = op.get_bind()
    for exercise_id, limits in connection.execute(sa.select(exercises.c.id, exercises.c.limits)).all():
        if isinstance(limits, dict) and limits.get("gpu"):
            connection.execute(exercises.update().where(exercises.c.id == exercise_id).values(gpu=True))


def downgrade() -> None:
    with op.batch_alter_table("exercises") as batch:
        batch.drop_column("gpu")
