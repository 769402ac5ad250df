"""Gradescope's autograder: the zip ``grade gradescope-bundle`` builds, and what it runs there.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once as root when it
builds the autograder's image (Ubuntu), then ``run_autograder`` as root for every submission,
with the student's files in ``/autograder/submission``; it shows what that writes to
``/autograder/results/results.json``. The zip holds:

- ``setup.sh``: Python, bubblewrap and libseccomp from apt where missing, and the bundled grader
  installed into ``/autograder/venv``, with the packages the rubric's ``[environment]`` declares;
- ``run_autograder``: ``python -m grader.gradescope run`` with Gradescope's paths (``run``);
- ``project/``: the grader's own project (``pyproject.toml``, its readme, ``grader/``);
- ``course/``: the course cut down to one assignment: its rubric, reference and mistakes.

``run`` grades under strict isolation only. Gradescope's containers have no user namespaces for
bubblewrap, so there a submission takes the Landlock path (Landlock, seccomp, a uid of its own:
see ``grader.sandbox.isolation``); where that is missing too, results.json says the submission
was not graded and what the instructor must provide: it is never graded unisolated. Whatever
happens (no file, several, no isolation, a failure of the grader), results.json is written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import stat
import sys
import tempfile
import tomllib
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from grader.course import Course
from grader.db.engine import default_url
from grader.errors import GraderError
from grader.exports import gradescope
from grader.loading import KINDS
from grader.sandbox.isolation import IsolationError, detect
from grader.submit import submit
from grader.terminal import printable
from grader.workspace import Workspace

__all__ = ["bundle", "pick", "run"]

#: where Gradescope puts everything; ``run_autograder`` names it once
AUTOGRADER = "/autograder"
#: the student id of the submission in the throwaway gradebook
STUDENT = "gradescope"
#: a fixed time for every member, so that the same course and grader make the same zip
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: folders of a submission that are not the student's work (a Git checkout's, an editor's, macOS's)
_SKIPPED = re.compile(r"^(\.|__MACOSX$|__pycache__$)")

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu): Python
# @PYTHON_MIN@ or newer, bubblewrap and libseccomp where missing, and the bundled grader installed
# into @AUTOGRADER@/venv.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

install_missing() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q ' installed$' || missing+=("$package")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

install_missing python3 python3-venv bubblewrap libseccomp2
python=python3
if ! python3 -c 'import sys; sys.exit(sys.version_info < @PYTHON_TUPLE@)'; then
  python=python@PYTHON_MIN@  # Ubuntu 22.04's python3 is 3.10; its universe has newer ones
  install_missing "$python" "$python-venv"
fi
"$python" -m venv @AUTOGRADER@/venv
@AUTOGRADER@/venv/bin/python -m pip install -q --no-cache-dir @AUTOGRADER@/source/project
@PACKAGES@@AUTOGRADER@/venv/bin/grade doctor
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission, as root: grade the file in submission/ under
# strict isolation and write results/results.json, whatever happens.
set -euo pipefail
root=@AUTOGRADER@
exec "$root/venv/bin/python" -P -m grader.gradescope run --assignment @ASSIGNMENT@ --source "$root/source" \\
  --submission "$root/submission" --metadata "$root/submission_metadata.json" --results "$root/results/results.json"
"""


# --- the bundle ---------------------------------------------------------------------------------


def bundle(assignment: str, output: Path, *, course: Path | str = ".") -> list[str]:
    """Write Gradescope's autograder zip for ``assignment`` of ``course`` to ``output``; return
    its members' names. The assignment is loaded first, so a broken one is a CourseError here,
    not a failure on Gradescope."""
    where = Course(course)
    rubric = where.assignment(assignment).rubric
    course_files = [Path("rubrics") / f"{assignment}.toml", Path("reference") / f"{rubric.reference}.py"]
    if rubric.mistakes:
        course_files.append(Path("reference") / f"{rubric.mistakes}.py")
    project, project_files, minimum = _project()
    # what the assignment's submissions may import besides numpy, installed where the grader runs
    packages = f"{AUTOGRADER}/venv/bin/python -m pip install -q --no-cache-dir {shlex.join(rubric.packages)}\n" if rubric.packages else ""
    scripts = {
        "AUTOGRADER": AUTOGRADER, "ASSIGNMENT": shlex.quote(assignment), "PYTHON_TUPLE": repr(minimum), "PYTHON_MIN": ".".join(map(str, minimum)),
        "PACKAGES": packages,
    }
    members: dict[str, tuple[bytes, int]] = {
        "setup.sh": (_fill(SETUP_SH, scripts), 0o755),
        "run_autograder": (_fill(RUN_AUTOGRADER, scripts), 0o755),
    }
    for relative in course_files:
        members[f"course/{relative.as_posix()}"] = ((where.root / relative).read_bytes(), 0o644)
    for relative in project_files:
        members[f"project/{relative.as_posix()}"] = ((project / relative).read_bytes(), 0o644)
    _write_zip(output, members)
    return sorted(members)


def _project() -> tuple[Path, list[Path], tuple[int, int]]:
    """The grader's project directory (``pyproject.toml`` beside the ``grader`` package), what in
    it installs the grader (``pyproject.toml``, its readme, the package without caches), and the
    oldest Python it supports; a GraderError when the grader is not installed from its source."""
    project = Path(__file__).resolve().parent.parent
    try:
        metadata = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        found = re.fullmatch(r">=\s*3\.(\d+)", str(metadata["requires-python"]).strip())
        if metadata["name"] != "grader" or found is None:
            raise ValueError
    except (OSError, ValueError, KeyError):
        raise GraderError(
            f"the bundle copies the grader's project, but {project} holds no pyproject.toml of the grader's: "
            "install the grader from its source (pip install -e CHECKOUT) and build the bundle with it."
        ) from None
    files = [Path("pyproject.toml")]
    if isinstance(metadata.get("readme"), str):
        files.append(Path(metadata["readme"]))
    for folder, folders, names in os.walk(project / "grader"):
        folders[:] = sorted(f for f in folders if not _SKIPPED.match(f))
        files += [Path(folder, n).relative_to(project) for n in sorted(names) if not n.startswith(".") and not n.endswith((".pyc", ".pyo"))]
    return project, files, (3, int(found.group(1)))


def _fill(template: str, values: dict[str, str]) -> bytes:
    """``template`` with each ``@KEY@`` replaced by ``values[KEY]``."""
    return re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], template).encode("utf-8")


def _write_zip(output: Path, members: dict[str, tuple[bytes, int]]) -> None:
    """The zip, written whole or not at all; executables keep their mode (Unix attributes)."""
    output = output.absolute()
    try:
        handle, name = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
    except OSError as exc:
        raise _unwritable(output, exc) from None
    part = Path(name)
    try:
        with os.fdopen(handle, "wb") as file, zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as archive:
            for member in sorted(members):
                data, mode = members[member]
                info = zipfile.ZipInfo(member, ZIP_TIME)
                info.create_system = 3  # Unix: unzip applies external_attr's mode
                info.external_attr = (stat.S_IFREG | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
        part.chmod(0o644)
        part.replace(output)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise _unwritable(output, exc) from None


def _unwritable(output: Path, exc: OSError) -> GraderError:
    return GraderError(f"cannot write {output}: {exc.strerror or exc}.")


# --- on Gradescope, per submission --------------------------------------------------------------


def run(assignment: str, *, source: Path, submission: Path, results: Path, metadata: Path | None = None) -> dict[str, Any]:
    """Grade the student's file in ``submission`` with the course in ``source/course`` and write
    Gradescope's ``results``; return what was written. Never returns without writing it: a
    failure of the grader is written as a score of 0 saying so, then raised."""
    try:
        outcome = _grade(assignment, source / "course", submission, metadata)
    except IsolationError:
        outcome = _zero(_not_isolated(detect().why_not_strict()))
    except GraderError as exc:
        outcome = _zero(f"Not graded: {printable(str(exc))}")
    except Exception as exc:
        _write(results, _zero(f"Not graded: the autograder failed ({type(exc).__name__}). Tell your instructor."))
        raise
    _write(results, outcome)
    return outcome


def pick(directory: Path, assignment: str) -> tuple[Path | None, str]:
    """The file to grade in ``directory``: its one ``.py`` or ``.ipynb`` file, or among several
    the one named after the assignment (``NAME.py`` or ``NAME.ipynb``). Otherwise None and a
    sentence for the student saying what was found. Symbolic links are never followed: a link
    could name the course's reference."""
    found: list[Path] = []
    others: list[Path] = []
    links: list[Path] = []
    for folder, folders, names in os.walk(directory):
        links += [Path(folder, f) for f in folders if os.path.islink(os.path.join(folder, f))]
        folders[:] = sorted(f for f in folders if not _SKIPPED.match(f))
        for name in sorted(names):
            path = Path(folder, name)
            if _SKIPPED.match(name):
                continue
            if path.is_symlink():
                links.append(path)
            else:
                (found if path.suffix.lower() in KINDS else others).append(path)
    if len(found) == 1:
        return found[0], ""
    named = [p for p in found if p.stem == assignment]
    if len(named) == 1:
        return named[0], ""
    shown = _names(directory, found or others)
    if found:
        return None, (
            f"Your submission holds {len(found)} .py files and notebooks ({shown}) and the autograder grades one: "
            f"submit only your solution, or name it {assignment}.py or {assignment}.ipynb."
        )
    held = f"it holds {shown}" if others else "it is empty"
    if links:
        held += f"; symbolic links are not read: {_names(directory, links)}"
    return None, f"No .py file or .ipynb notebook was found in your submission ({held}): submit your {assignment} solution as one."


def _grade(assignment: str, course: Path, directory: Path, metadata: Path | None) -> dict[str, Any]:
    """Grade the file ``pick`` chooses into a throwaway gradebook, and describe it for Gradescope,
    with the file and the isolation level in ``extra_data``."""
    path, why = pick(directory, assignment)
    if path is None:
        return _zero(why)
    with tempfile.TemporaryDirectory(prefix="grader-gradescope-") as scratch:
        workspace = Workspace(course, default_url(Path(scratch)))
        done = submit(path, assignment=assignment, student=STUDENT, course=course, db_url=workspace.db_url, submitted_at=_submitted_at(metadata))
        with workspace.gradebook() as gradebook:
            stored = gradebook.get(done.submission_id)
        if stored is None:
            raise GraderError(f"submission {done.submission_id} vanished from its gradebook.")
        outcome = gradescope(stored, workspace.assignment(assignment).rubric)
    outcome["extra_data"] = {"file": path.relative_to(directory).as_posix(), "isolation": done.result.isolation}
    return outcome


def _submitted_at(metadata: Path | None) -> datetime:
    """When the student submitted (Gradescope's ``created_at``), so that a regrade after the due
    date is not late; now where Gradescope does not say."""
    try:
        created = json.loads(metadata.read_text(encoding="utf-8"))["created_at"] if metadata else None
        moment = datetime.fromisoformat(created) if isinstance(created, str) else None
    except (OSError, ValueError, KeyError, TypeError):
        moment = None
    if moment is None or moment.utcoffset() is None:
        return datetime.now(UTC)
    return moment


def _names(directory: Path, paths: list[Path], most: int = 10) -> str:
    shown = [printable(str(p.relative_to(directory))) for p in paths[:most]]
    return ", ".join(shown) + (f" and {len(paths) - most} more" if len(paths) > most else "")


def _not_isolated(why: str) -> str:
    """For the student, that nothing was graded; for the instructor, what strict isolation lacks here."""
    return (
        "Not graded: the autograder could not isolate your submission from the grader here, and it never runs one "
        "unisolated. For the instructor: strict isolation needs bubblewrap's user namespaces, or Landlock (Linux 5.13+, "
        f"enabled in lsm=) with seccomp and the grader running as root, but {why}; {AUTOGRADER}/venv/bin/grade doctor "
        "in this container says what is missing."
    )


def _zero(output: str) -> dict[str, Any]:
    return {"score": 0.0, "output": output, "tests": []}


def _write(results: Path, outcome: dict[str, Any]) -> None:
    results.parent.mkdir(parents=True, exist_ok=True)
    part = results.with_name(f".{results.name}.part")
    part.write_text(json.dumps(outcome, indent=2), encoding="utf-8")
    part.replace(results)


@click.group()
def main() -> None:
    """The grader on Gradescope (run_autograder calls this)."""


@main.command("run")
@click.option("--assignment", required=True, help="Assignment name (course/rubrics/NAME.toml).")
@click.option("--source", type=click.Path(file_okay=False, path_type=Path), default=f"{AUTOGRADER}/source", show_default=True,
              help="The unpacked bundle, holding course/.")
@click.option("--submission", type=click.Path(file_okay=False, path_type=Path), default=f"{AUTOGRADER}/submission", show_default=True,
              help="The student's files.")
@click.option("--metadata", type=click.Path(dir_okay=False, path_type=Path), default=f"{AUTOGRADER}/submission_metadata.json",
              show_default=True, help="Gradescope's submission_metadata.json (its created_at is the submission time).")
@click.option("--results", type=click.Path(dir_okay=False, path_type=Path), default=f"{AUTOGRADER}/results/results.json",
              show_default=True, help="Where to write results.json.")
def run_command(assignment: str, source: Path, submission: Path, metadata: Path, results: Path) -> None:
    """Grade the submission and write results.json."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    outcome = run(assignment, source=source, submission=submission, results=results, metadata=metadata)
    graded = outcome.get("extra_data", {})
    how = f" ({graded['file']} under {graded['isolation']})" if graded else ""
    click.echo(printable(f"wrote {results}{how}: score {outcome['score']:g}. {outcome['output']}"))


if __name__ == "__main__":
    main()
