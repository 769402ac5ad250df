"""``grade new NAME``: a starting assignment that passes ``grade check``, to edit into one's own.

It writes ``reference/NAME.py`` (a linear layer's forward and backward passes and
``make_inputs``), ``reference/NAME_mistakes.py`` (three mistakes, as knobs) and
``rubrics/NAME.toml`` (tuple returns, a kept cache, a reference check and vjp checks, credit and
notation), from the templates in ``grader/templates/new/``. It never overwrites a file.
"""

from __future__ import annotations

import keyword
from importlib import resources
from pathlib import Path
from string import Template

from grader.errors import CourseError

#: (template, where it goes in the course, relative to its root)
FILES = (
    ("reference.py.tmpl", "reference/{name}.py"),
    ("mistakes.py.tmpl", "reference/{name}_mistakes.py"),
    ("rubric.toml.tmpl", "rubrics/{name}.toml"),
)


def new_assignment(root: Path, name: str) -> list[Path]:
    """Write the starting files of assignment ``name`` into the course at ``root``; raise
    CourseError (one line) for a name that cannot be a module or for files that exist."""
    if not name.isidentifier() or keyword.iskeyword(name) or not name.isascii():
        raise CourseError(f"{name!r} cannot name an assignment: use letters, digits and _, starting with a letter (it is also a module's name).")
    targets = [(template, root / place.format(name=name)) for template, place in FILES]
    present = [str(path) for _, path in targets if path.exists()]
    if present:
        raise CourseError(f"{', '.join(present)} already exist{'s' if len(present) == 1 else ''}: grade new writes only new files; pick another name.")
    folder = resources.files("grader") / "templates" / "new"
    for template, path in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(folder.joinpath(template).read_text()).substitute(name=name))
    return [path for _, path in targets]
