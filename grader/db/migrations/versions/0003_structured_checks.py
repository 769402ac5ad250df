"""Check results carry their findings as fields: the case, the submission's own text, the
hidden flag, and diagnoses as objects (code, explanation, credit).

Existing rows are converted: a diagnosis code becomes ``{"code", "explanation": "", "credit":
null}``; the case kept in ``errors`` moves to ``case_name``, and the message's
``case 'NAME' (...)`` becomes the ``{case}`` slot, and its worst element is dropped (it is in
``errors``), so that outputs can redact a check hidden after it was graded.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_ELEMENT = re.compile(r"; (?:worst element \[[^\]]*\]: )?expected \S+, got \S+?(?=\.(?:\s|$))")
_BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table("check_results") as batch:
        batch.add_column(sa.Column("case_name", sa.Text(), nullable=True))
        batch.add_column(sa.Column("student_text", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()))
    rows = sa.table(
        "check_results",
        sa.column("id", sa.Integer()),
        sa.column("message", sa.Text()),
        sa.column("diagnoses", sa.JSON()),
        sa.column("errors", sa.JSON()),
        sa.column("case_name", sa.Text()),
    )
    connection = op.get_bind()
    last = 0
    while True:
        found = connection.execute(
            sa.select(rows.c.id, rows.c.message, rows.c.diagnoses, rows.c.errors)
            .where(rows.c.id > last)
            .order_by(rows.c.id)
            .limit(_BATCH)
        ).all()
        if not found:
            break
        for row in found:
            last = row.id
            connection.execute(sa.update(rows).where(rows.c.id == row.id).values(_converted(row.message, row.diagnoses, row.errors)))


def _converted(message: str, diagnoses: Any, errors: Any) -> dict[str, Any]:
    diagnoses = _loaded(diagnoses, [])
    errors = _loaded(errors, {})
    case = errors.pop("case", None) if isinstance(errors, dict) else None
    if isinstance(case, str):
        pattern = rf"case '{re.escape(case)}' \((?:[^()]|\([^()]*\))*\)"
        message = re.sub(pattern, "{case}", message, count=1)
    if isinstance(errors, dict) and "expected" in errors and "got" in errors:
        message = _ELEMENT.sub("", message, count=1)
    return {
        "message": message,
        "case_name": case if isinstance(case, str) else None,
        "errors": errors,
        "diagnoses": [d if isinstance(d, dict) else {"code": str(d), "explanation": "", "credit": None} for d in diagnoses],
    }


def _loaded(value: Any, default: Any) -> Any:
    """A JSON column's value (SQLite may hand back the text when the column type is plain)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return default
    return default if value is None else value


def downgrade() -> None:
    with op.batch_alter_table("check_results") as batch:
        batch.drop_column("hidden")
        batch.drop_column("student_text")
        batch.drop_column("case_name")
