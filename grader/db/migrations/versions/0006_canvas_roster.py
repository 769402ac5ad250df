"""Canvas's identity of each rostered student: its user "ID", "SIS Login ID" and "Section".

Students already on the roster have none (NULL) until Canvas's gradebook export is imported
again; a plain roster never sets them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("roster") as batch:
        batch.add_column(sa.Column("canvas_id", sa.Text(), nullable=True))
        batch.add_column(sa.Column("sis_login_id", sa.Text(), nullable=True))
        batch.add_column(sa.Column("section", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("roster") as batch:
        batch.drop_column("section")
        batch.drop_column("sis_login_id")
        batch.drop_column("canvas_id")
