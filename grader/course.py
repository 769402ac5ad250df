"""A course directory: ``rubrics/NAME.toml`` and ``reference/MODULE.py`` for each assignment."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.errors import CourseError, RubricError, UnknownAssignment
from grader.rubric import Rubric, load_rubric

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # used with fullmatch: "^...$" accepts "name\n"


@dataclass(frozen=True)
class Assignment:
    rubric: Rubric
    reference: ModuleType
    #: changes whenever the rubric, the reference or its mistakes change: results carry it
    version: str
    #: the mistake variants (``MISTAKES`` and ``answer``), when the rubric names a module
    mistakes: ModuleType | None = None

    @property
    def name(self) -> str:
        return self.rubric.name

    def function(self, name: str) -> Callable[..., Any]:
        return getattr(self.reference, name)

    def parameters(self, name: str) -> list[str]:
        """The argument names of a contract function, in order, from the reference."""
        return list(inspect.signature(self.function(name)).parameters)


class Course:
    def __init__(self, root: Path | str = ".") -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise CourseError(f"course directory {self.root} does not exist.")

    def names(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "rubrics").glob("*.toml"))

    def assignment(self, name: str) -> Assignment:
        """Load and check an assignment; raise UnknownAssignment, RubricError or CourseError."""
        path = self.root / "rubrics" / f"{name}.toml"
        if not _NAME.fullmatch(name) or not path.is_file():
            known = ", ".join(self.names()) or "none"
            raise UnknownAssignment(
                f"no assignment {name!r} in {self.root} (no rubrics/NAME.toml); known: {known}."
            )
        rubric = load_rubric(path)
        if rubric.name != name:
            raise RubricError(f"{path}: [assignment] name is {rubric.name!r}, but the file is named {name!r}.")
        reference_path = self.root / "reference" / f"{rubric.reference}.py"
        module = _import(reference_path, f"grader_reference_{name}")
        wanted = list(rubric.functions) + ["make_inputs"]
        missing = [f for f in wanted if not callable(getattr(module, f, None))]
        if missing:
            raise RubricError(f"{reference_path} does not define {', '.join(missing)}.")
        digest = hashlib.sha256(rubric.digest.encode() + reference_path.read_bytes())
        mistakes = None
        if rubric.mistakes:
            mistakes_path = self.root / "reference" / f"{rubric.mistakes}.py"
            # The variants import the reference by its own name (``import backprop``).
            aliased = sys.modules.get(rubric.reference)
            sys.modules[rubric.reference] = module
            try:
                mistakes = _import(mistakes_path, f"grader_mistakes_{name}")
            finally:
                if aliased is None:
                    del sys.modules[rubric.reference]
                else:
                    sys.modules[rubric.reference] = aliased
            if not isinstance(getattr(mistakes, "MISTAKES", None), list) or not callable(getattr(mistakes, "answer", None)):
                raise RubricError(f"{mistakes_path} must define a MISTAKES list and an answer(function, inputs, mistakes) function.")
            digest.update(mistakes_path.read_bytes())
        return Assignment(rubric, module, digest.hexdigest()[:16], mistakes)


def _import(path: Path, module_name: str) -> ModuleType:
    if not path.is_file():
        raise CourseError(f"the reference module {path} does not exist.")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise CourseError(f"{path} cannot be imported.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of the author's module; SystemExit: an unguarded sys.exit()
        del sys.modules[module_name]
        raise CourseError(f"{path} fails to import: {type(exc).__name__}: {exc}.") from None
    return module
