"""Leases: every pending submission names the grader that holds it, until when.

A grader (``grade submit``, a batch, a worker) that records or takes a pending submission
holds its lease and renews it while it grades (a heartbeat). A pending submission whose lease
has run out, or whose holder on this machine has exited, is an orphan: the next batch regrades
it, or the next command that opens the gradebook closes it as interrupted. ``attempts`` counts
the gradings that took it, so that one that keeps failing is closed instead of retried forever.

Rows pending before this revision hold no lease: they are orphans from the start.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("lease_owner", sa.Text(), nullable=True))
        batch.add_column(sa.Column("lease_expires", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_submissions_status", "submissions", ["status"])


def downgrade() -> None:
    op.drop_index("ix_submissions_status", table_name="submissions")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("attempts")
        batch.drop_column("lease_expires")
        batch.drop_column("lease_owner")
