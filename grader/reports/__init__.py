"""Readable reports of graded submissions (text, Markdown, self-contained HTML with pictures)
and the instructor's class summary.

    model.py     what a report says, format-free; hidden checks are redacted here
    text.py      plain text (``grade submit``, ``grade report``)
    markdown.py  Markdown
    html.py      self-contained HTML
    templates.py the Jinja2 environment of the HTML pages (grader/templates/)
    pictures.py  PNG heatmaps and histograms (matplotlib, imported lazily)
    summary.py   the class summary
    api.py       reports from the gradebook, files for a whole class
"""

from grader.reports.api import FORMATS, class_summary, file_name, report, report_all
from grader.reports.model import Header, Report, build
from grader.reports.text import render_text

__all__ = ["FORMATS", "Header", "Report", "build", "class_summary", "file_name", "render_text", "report", "report_all"]
