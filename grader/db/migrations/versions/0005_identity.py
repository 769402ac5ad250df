"""Identity and course policy: the roster, instructors, bearer tokens (their SHA-256 only),
per-student extensions, and each submission's lateness beside its raw score.

Existing submissions were not late: ``late_days``, ``late_penalty_per_day`` and ``penalty`` are 0,
so every score they had stays their final score.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("late_days", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("late_penalty_per_day", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("penalty", sa.Float(), nullable=False, server_default="0"))
    op.create_table(
        "roster",
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("student_id", name="pk_roster"),
        sa.ForeignKeyConstraint(["student_id"], ["students.id"], name="fk_roster_student_id_students"),
    )
    op.create_table(
        "instructors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_instructors"),
        sa.UniqueConstraint("external_id", name="uq_instructors_external_id"),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
    )
    op.create_index("ux_tokens_sha256", "tokens", ["sha256"], unique=True)
    op.create_index("ix_tokens_subject", "tokens", ["subject"])
    op.create_table(
        "extensions",
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("days", sa.Float(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("student_id", "assignment_id", name="pk_extensions"),
        sa.ForeignKeyConstraint(["student_id"], ["students.id"], name="fk_extensions_student_id_students"),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"], name="fk_extensions_assignment_id_assignments"),
    )


def downgrade() -> None:
    op.drop_table("extensions")
    op.drop_index("ix_tokens_subject", table_name="tokens")
    op.drop_index("ux_tokens_sha256", table_name="tokens")
    op.drop_table("tokens")
    op.drop_table("instructors")
    op.drop_table("roster")
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("penalty")
        batch.drop_column("late_penalty_per_day")
        batch.drop_column("late_days")
