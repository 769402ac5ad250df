"""Web pages: signed-in browsers' sessions and one-time sign-in links, both by SHA-256 only.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_web_sessions"),
    )
    op.create_index("ux_web_sessions_sha256", "web_sessions", ["sha256"], unique=True)
    op.create_index("ix_web_sessions_subject", "web_sessions", ["subject"])
    op.create_table(
        "sign_in_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sign_in_links"),
    )
    op.create_index("ux_sign_in_links_sha256", "sign_in_links", ["sha256"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_sign_in_links_sha256", table_name="sign_in_links")
    op.drop_table("sign_in_links")
    op.drop_index("ix_web_sessions_subject", table_name="web_sessions")
    op.drop_index("ux_web_sessions_sha256", table_name="web_sessions")
    op.drop_table("web_sessions")
