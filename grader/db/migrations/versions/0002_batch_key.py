"""Batch grading: a unique key per (assignment, student, content, rubric version).

A batch that is interrupted, rerun, or delivered twice by a queue finds the submission it
already recorded by this key instead of recording it again. Submissions made with
``grade submit`` have no key: a student may submit the same file twice.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("batch_key", sa.String(64), nullable=True))
    op.create_index("ux_submissions_batch_key", "submissions", ["batch_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_submissions_batch_key", table_name="submissions")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("batch_key")
