"""The Jinja2 environment of the HTML pages, over the templates in ``grader/templates`` (package
data): ``base.html`` (the layout, with ``report.css`` inline), ``macros.html`` (score bar, check,
diagnosis, figure), and ``report.html``, ``summary.html``, ``index.html``.

Every printed value is escaped (autoescape) and a missing variable or field is an error
(StrictUndefined). Nothing is marked safe: the templates get the report model, plain strings and
numbers, and pictures as data: URIs, which hold no character that escaping changes.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from grader.terminal import printable


def num(value: float, digits: int | None = None) -> str:
    """A score as ``{:g}`` (100, 58.75); with ``digits``, rounded to that many decimals first."""
    return f"{value if digits is None else round(value, digits):g}"


def percent(value: float) -> str:
    """``81.25`` as ``81%``."""
    return f"{value:.0f}%"


def finalize(value: Any) -> Any:
    """Every printed string without control characters (Markup is the templates' own)."""
    return printable(value) if isinstance(value, str) and not isinstance(value, Markup) else value


@cache
def environment() -> Environment:
    """The environment, made on first use."""
    env = Environment(
        loader=PackageLoader("grader", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=finalize,
    )
    env.filters["num"] = num
    env.filters["percent"] = percent
    return env


def render(name: str, **context: Any) -> str:
    """The template ``name`` filled with ``context``.

    MarkupSafe writes an escaped ' and " as &#39; and &#34;; they are respelled as html.escape
    spells them (&#x27;, &quot;), as the pages always had them. Only escaping produces these
    entities: an escaped '&' becomes '&amp;', so a student's literal "&#39;" is never rewritten.
    """
    page = environment().get_template(name).render(**context)
    return page.replace("&#39;", "&#x27;").replace("&#34;", "&quot;")
