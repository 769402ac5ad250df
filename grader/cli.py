"""The ``grade`` command line. Each command only parses options and calls the API."""

from __future__ import annotations

import json
import sys
from functools import wraps
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from grader.errors import GraderError

F = TypeVar("F", bound=Callable[..., Any])


class UsageProblem(click.ClickException):
    """An operator mistake: one line on stderr, exit code 2, nothing recorded."""

    exit_code = 2


def _one_line_errors(command: F) -> F:
    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except GraderError as exc:
            raise UsageProblem(str(exc)) from None

    return wrapper  # type: ignore[return-value]


@click.group()
@click.option(
    "--course",
    envvar="GRADE_COURSE",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Course directory holding reference/ and rubrics/ (env GRADE_COURSE).",
)
@click.version_option(package_name="grader")
@click.pass_context
def main(ctx: click.Context, course: Path) -> None:
    """Grade numerical programming assignments."""
    ctx.obj = course


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--assignment", "-a", required=True, help="Assignment name (rubrics/NAME.toml).")
@click.option("--student", "-s", required=True, help="Student id, stored exactly as given.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Seed of the random cases (default: fresh).")
@click.option(
    "--isolation",
    type=click.Choice(["strict", "permissive"]),
    envvar="GRADE_ISOLATION",
    default="permissive",
    show_default=True,
    help="strict: refuse to grade without namespaces (bubblewrap); permissive: warn and grade (env GRADE_ISOLATION).",
)
@click.pass_obj
@_one_line_errors
def submit(course: Path, path: Path, assignment: str, student: str, as_json: bool, seed: int | None, isolation: str) -> None:
    """Grade the .py file or .ipynb notebook at PATH and store the result."""
    from grader.reports import Header, render_text
    from grader.submit import submit as submit_file

    _warn_if_weakly_isolated(isolation)
    done = submit_file(path, assignment=assignment, student=student, course=course, seed=seed, isolation=isolation)
    if as_json:
        click.echo(json.dumps(done.to_json()))
        return
    result = done.result
    header = Header(done.submission_id, student, assignment, result.status, result.message, result.score, result.max_score, filename=path.name, isolation=result.isolation)
    click.echo(render_text(header, result.checks, result.warnings, _rubric(course, assignment)))


@main.command()
@click.option("--assignment", "-a", required=True, help="Assignment name.")
@click.option("--student", "-s", required=True, help="Student id.")
@click.pass_obj
@_one_line_errors
def report(course: Path, assignment: str, student: str) -> None:
    """Print a student's latest result for an assignment."""
    from grader.db import Gradebook, database_url
    from grader.errors import NotFound
    from grader.reports import Header, render_text

    with Gradebook(database_url(course)) as gradebook:
        stored = gradebook.latest(student, assignment)
    if stored is None:
        raise NotFound(f"no submission of {student!r} for {assignment!r} in the gradebook.")
    message = stored.message if stored.status != "pending" else "grading did not finish; submit again."
    header = Header(stored.id, stored.student, stored.assignment, stored.status, message, stored.score or 0.0, stored.max_score or 0.0, stored.submitted_at, stored.filename, stored.isolation)
    click.echo(render_text(header, stored.checks, stored.warnings, _rubric(course, assignment)))


@main.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--assignment", "-a", required=True, help="Assignment name (rubrics/NAME.toml).")
@click.option("--workers", "-w", type=click.IntRange(1, 256), help="Parallel sandboxes (default: the number of cores).")
@click.option("--json", "as_json", is_flag=True, help="Print only one JSON summary.")
@click.option(
    "--isolation",
    type=click.Choice(["strict", "permissive"]),
    envvar="GRADE_ISOLATION",
    default="strict",
    show_default=True,
    help="strict: refuse to grade without namespaces (bubblewrap); permissive: warn and grade.",
)
@click.pass_obj
@_one_line_errors
def batch(course: Path, directory: Path, assignment: str, workers: int | None, as_json: bool, isolation: str) -> None:
    """Grade every submission in DIRECTORY: <student>.py, <student>.ipynb or <student>/ with one.

    Resumable: a rerun skips what is already graded and finishes what an interrupted run left.
    """
    from grader.batch import run_batch
    from grader.progress import Progress

    _warn_if_weakly_isolated(isolation)
    with Progress(enabled=not as_json) as progress:
        summary = run_batch(directory, assignment=assignment, course=course, workers=workers, isolation=isolation, progress=progress.update)
    if as_json:
        click.echo(json.dumps(summary.to_json()))
        return
    facts = summary.to_json()
    for skipped in summary.skipped:
        click.echo(f"skipped {skipped.path}: {skipped.reason}")
    for done in summary.done:
        if done.note:
            click.echo(f"not recorded {done.student}: {done.note}")
    counts = ", ".join(f"{n} {status}" for status, n in sorted(facts["counts"].items()))
    mean = f"{facts['mean_score']:.1f}" if facts["mean_score"] is not None else "-"
    click.echo(
        f"{facts['submissions']} submissions ({counts or 'none'}), {len(summary.skipped)} skipped; "
        f"mean score {mean} of {summary.done[0].max_score if summary.done else 0:g}; "
        f"{facts['wall_seconds']:.1f} s, {facts['submissions_per_second'] or 0:.1f} submissions/s"
    )


@main.command("export")
@click.option("--assignment", "-a", required=True, help="Assignment name.")
@click.option("--format", "format_", type=click.Choice(["csv", "canvas", "gradescope"]), default="csv", show_default=True,
              help="csv: total and parts per student; canvas: Canvas gradebook import; gradescope: results.json of one student.")
@click.option("--policy", type=click.Choice(["latest", "best"]), default="latest", show_default=True, help="Which submission counts.")
@click.option("--student", "-s", help="Only this student (needed for gradescope when several have results).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@click.pass_obj
@_one_line_errors
def export_command(course: Path, assignment: str, format_: str, policy: str, student: str | None, output: Path | None) -> None:
    """Export grades: a spreadsheet CSV, a Canvas import CSV, or Gradescope's results.json."""
    from grader.exports import export

    text = export(assignment=assignment, format=format_, policy=policy, student=student, course=course)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GraderError(f"cannot write {output}: {exc.strerror}.") from None
    click.echo(f"wrote {output}", err=True)


@main.command()
def doctor() -> None:
    """Show which isolation layers this machine gives submissions."""
    from grader.sandbox.isolation import detect

    layers = detect()
    rows = [
        ("process", True, "separate process, rlimits, empty environment, wall-clock limit"),
        ("seccomp", layers.seccomp, "pyseccomp/libseccomp: ptrace, mount, namespaces, network sockets refused"),
        ("namespaces", layers.bubblewrap is not None, f"bubblewrap at {layers.bubblewrap}: no network, own PID namespace, read-only Python, tmpfs scratch" if layers.bubblewrap else layers.reason),
        ("landlock", False, "not used: bubblewrap's mount namespace already hides the file system"),
    ]
    for name, present, detail in rows:
        click.echo(f"{name:<11} {'yes' if present else 'no ':<4} {detail}")
    click.echo(f"level: {layers.level}" + ("" if layers.bubblewrap else " (strict isolation will refuse to grade)"))


def _warn_if_weakly_isolated(mode: str) -> None:
    from grader.sandbox.isolation import detect

    layers = detect()
    if mode == "permissive" and layers.bubblewrap is None:
        click.secho(f"WARNING: grading without namespaces ({layers.reason}); submissions can see this machine.", fg="red", err=True)


@main.group()
def db() -> None:
    """Manage the gradebook database (GRADE_DB_URL, default sqlite:///COURSE/grade.db)."""


@db.command()
@click.pass_obj
@_one_line_errors
def upgrade(course: Path) -> None:
    """Create the gradebook or bring its schema up to date."""
    from grader.db import Gradebook, database_url

    with Gradebook(database_url(course), upgrade=False) as gradebook:
        before, after = gradebook.upgrade()
    click.echo(f"gradebook at revision {after}" + (f" (was {before or 'empty'})" if before != after else " (up to date)"))


def _rubric(course: Path, assignment: str) -> Any:
    """The rubric for part titles in reports, or None if the course no longer has it."""
    from grader.course import Course

    try:
        return Course(course).assignment(assignment).rubric
    except GraderError:
        return None


if __name__ == "__main__":
    sys.exit(main())
