"""The gradebook database: SQLite by default, PostgreSQL via ``GRADE_DB_URL``.

``Gradebook`` brings the schema to the newest Alembic revision when opened, so the first
use of a course creates its gradebook.
"""

from grader.db.engine import default_url
from grader.db.gradebook import Gradebook
from grader.db.records import StoredSubmission

__all__ = ["Gradebook", "StoredSubmission", "default_url"]
