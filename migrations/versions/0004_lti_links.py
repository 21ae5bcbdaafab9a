"""LMS links (LTI 1.3): who a user is on a platform (issuer + sub) and where the score of their
exercise goes (the AGS lineitem and its scopes).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lti_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("exercise_id", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=255), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("deployment_id", sa.String(length=255), nullable=False),
        sa.Column("sub", sa.String(length=255), nullable=False),
        sa.Column("lineitem", sa.Text(), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_lti_links_user_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["exercise_id"], ["exercises.id"], name=op.f("fk_lti_links_exercise_id_exercises"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_links")),
        sa.UniqueConstraint("user_id", "exercise_id", "issuer", name=op.f("uq_lti_links_user_id_exercise_id_issuer")),
    )
    op.create_index("ix_lti_links_issuer_sub", "lti_links", ["issuer", "sub"])


def downgrade() -> None:
    op.drop_index("ix_lti_links_issuer_sub", table_name="lti_links")
    op.drop_table("lti_links")
