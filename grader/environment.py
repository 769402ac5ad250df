"""What a submission may import: the standard library, numpy, and the packages its rubric
declares (``[environment] packages``), with what they require.

The sandbox runs the grader's own Python, so a declared package is "installed for the sandbox"
by installing it into the grader's environment (``python -m pip install scipy``, what ``grade
env NAME --install`` runs). Grading an assignment whose packages the grader's Python cannot
import is refused before anything is recorded (``require``): that is the instructor's setup,
not the student's mistake.

A submission may import only those: the child refuses any other top-level module that is not
the standard library's (``child.AllowedImports``), whatever else the grader's environment holds
(sqlalchemy, celery, pydantic...). The allowed modules are computed here, from the installed
distributions' metadata: the declared distributions and numpy, their requirements recursively
(environment markers evaluated, extras left out), and the top-level modules each one installs.
On the Landlock path the child must also be allowed to read them: ``Imports.paths`` are the
files and directories those distributions installed, which the zygote adds to each child's
Landlock rules (bubblewrap's view already holds the whole environment).
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from grader.errors import GraderError
from grader.rubric import Rubric
from grader.sandbox.interface import Imports

#: what every submission may import besides the standard library
BASE = ("numpy",)
#: how long a requirement found satisfied is taken as still satisfied without reading the
#: installed distributions' metadata again (a grading process checks before every grading)
SATISFIED_SECONDS = 60.0


class PackagesMissing(GraderError):
    """An assignment declares packages the grader's Python cannot import."""


def missing(packages: tuple[str, ...]) -> list[str]:
    """The requirements among ``packages`` that the grader's Python does not satisfy: not
    installed, or installed at a version the specifier excludes. One found satisfied is not
    looked up again for SATISFIED_SECONDS; one found missing is looked up every time, so that
    installing it takes effect at once."""
    now = time.monotonic()
    absent = []
    for package in packages:
        with _lock:
            fresh = package in _found and now - _found[package] < SATISFIED_SECONDS
        if fresh:
            continue
        if _satisfied(Requirement(package)):
            with _lock:
                _found[package] = now
        else:
            absent.append(package)
    return absent


#: requirement -> when it was last found satisfied (time.monotonic)
_found: dict[str, float] = {}
_lock = threading.Lock()


def _satisfied(requirement: Requirement) -> bool:
    try:
        version = importlib.metadata.version(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return requirement.specifier.contains(version, prereleases=True)


def status(requirement: str) -> str:
    """What the grader's Python has of ``requirement``: ``1.17.1``, ``not installed``, or
    ``1.17.1, not >=2``."""
    parsed = Requirement(requirement)
    try:
        version = importlib.metadata.version(parsed.name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
    return version if parsed.specifier.contains(version, prereleases=True) else f"{version}, not {parsed.specifier}"


def install_command(packages: list[str]) -> list[str]:
    """The pip command that installs ``packages`` into the grader's Python."""
    return [sys.executable, "-m", "pip", "install", *packages]


def shown(command: list[str]) -> str:
    return shlex.join(command)


def require(rubric: Rubric) -> None:
    """Raise PackagesMissing, one line naming the command that installs them, when the grader's
    Python lacks a package ``rubric`` declares; and when its ``preload`` names a module that is
    not one of those packages'."""
    absent = missing(rubric.packages)
    if absent:
        raise PackagesMissing(
            f"assignment {rubric.name!r} lets submissions import {', '.join(absent)}, which the grader's Python does not have; "
            f"install it with: {shown(install_command(absent))} (or grade env {rubric.name} --install)."
        )
    allowed = set(imports(rubric.packages).modules)
    foreign = [m for m in rubric.preload if m.split(".")[0] not in allowed]
    if foreign:
        raise PackagesMissing(
            f"assignment {rubric.name!r} preloads {', '.join(foreign)}, which is not a module of numpy or of the packages "
            "it declares ([environment] packages)."
        )


def install(packages: list[str]) -> int:
    """Run pip to install ``packages`` into the grader's Python; its exit code."""
    return subprocess.run(install_command(packages), check=False).returncode


def imports(packages: tuple[str, ...], preload: tuple[str, ...] = ()) -> Imports:
    """What a submission to an assignment declaring ``packages`` may import (see the module's
    docstring), and the modules the sandbox imports before it forks (``preload``). A requirement
    not installed is left out (``require`` refuses to grade then)."""
    found = _imports(tuple(sorted(packages)))
    return replace(found, preload=tuple(preload)) if preload else found


@functools.cache
def _imports(packages: tuple[str, ...]) -> Imports:
    declared = [Requirement(p).name for p in packages]
    names = [*BASE, *declared]
    distributions = _closure(names)
    modules: set[str] = set(BASE)
    paths: set[str] = set()
    for distribution in distributions.values():
        firsts = {file.parts[0] for file in distribution.files or () if file.parts and not _OUTSIDE.match(file.parts[0])}
        modules.update(_top_level(distribution, {f for f in firsts if not f.endswith((".dist-info", ".egg-info", ".data", ".libs"))}))
        paths.update(_installed_paths(distribution, firsts))
    return Imports(tuple(names), tuple(sorted(modules)), tuple(sorted(paths)))


def _closure(names: list[str]) -> dict[str, importlib.metadata.Distribution]:
    """The installed distributions ``names`` and everything they require, by normalized name."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # an optional dependency, or a declared package missing (refused elsewhere)
        found[name] = distribution
        for text in distribution.requires or ():
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return found


def _top_level(distribution: importlib.metadata.Distribution, firsts: set[str]) -> set[str]:
    """The top-level modules ``distribution`` installs: its ``top_level.txt``, else what its
    files are (a package's directory, a module's file: ``six.py``, ``_cffi_backend.cpython-311-x86_64-linux-gnu.so``)."""
    declared = (distribution.read_text("top_level.txt") or "").split()
    names = declared or [first.split(".", 1)[0] if "." in first else first for first in firsts]
    return {name for name in names if name.isidentifier() and name != "__pycache__"}


_OUTSIDE = re.compile(r"^\.\.|^__pycache__$")


def _installed_paths(distribution: importlib.metadata.Distribution, firsts: set[str]) -> set[str]:
    """Where the top-level files and directories ``firsts`` of ``distribution`` are (a package,
    its ``.libs`` of bundled libraries, its metadata; not scripts elsewhere, ``../../bin``)."""
    paths: set[str] = set()
    for first in firsts:
        located = Path(str(distribution.locate_file(first)))
        if located.exists():
            paths.add(str(located.resolve()))
    return paths
