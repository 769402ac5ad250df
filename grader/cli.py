"""The ``grade`` command line. Each command only parses options and calls the API.

The group reads the settings (``grader.settings``) once, sets up logging, and hands each
command a ``Cli`` holding the settings and the course directory.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from grader.errors import GraderError
from grader.settings import ISOLATION_MODES, RENAMED_MODES, Settings, install, reset
from grader.terminal import printable

if TYPE_CHECKING:
    from grader.batch import Summary
    from grader.login import Login

F = TypeVar("F", bound=Callable[..., Any])
#: grader.reports.FORMATS, spelled out so that the CLI starts without importing the reports
REPORT_FORMATS = ("text", "md", "html")


class UsageProblem(click.ClickException):
    """An operator mistake: one line on stderr, exit code 2, nothing recorded."""

    exit_code = 2


class Unavailable(click.ClickException):
    """Something outside the operator's hands (a server that cannot be reached): one line, exit 1."""

    exit_code = 1


def _one_line_errors(command: F) -> F:
    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except GraderError as exc:
            kind = Unavailable if exc.exit_code == 1 else UsageProblem
            raise kind(printable(str(exc))) from None

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class Cli:
    """What every command gets: the validated settings and the course directory."""

    settings: Settings
    course: Path

    @property
    def db_url(self) -> str | None:
        return self.settings.db_url

    def isolation(self, given: str | None) -> str:
        """``--isolation``, else ``GRADE_ISOLATION``, else strict."""
        return given or self.settings.isolation or "strict"

    def login(self) -> Login | None:
        """The server and token the student's commands use, or None: grade locally."""
        from grader.login import configured

        return configured(self.settings.server, self.settings.token)


#: what --isolation none gives up, said wherever it can be chosen
NONE_MEANS = (
    "none: grade even where neither is available; then a submission runs as a plain process of the grader's "
    "user, and can read the grader's environment (GRADE_DB_URL passwords), the course's reference and the "
    "gradebook, change grades, and write into the grader's installation (a .pth runs in every later grading)"
)


class IsolationChoice(click.Choice):
    """strict or none; an old mode name is a one-line error naming the new one."""

    def __init__(self) -> None:
        super().__init__(list(ISOLATION_MODES))

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value in RENAMED_MODES:
            raise UsageProblem(
                f"--isolation {value} is now called --isolation {RENAMED_MODES[value]} (it grades even without isolation); use strict or none."
            )
        return super().convert(value, param, ctx)


def isolation_option() -> Callable[[F], F]:
    return click.option(
        "--isolation",
        type=IsolationChoice(),
        default=None,
        help="strict: grade only in a sandbox, namespaces (bubblewrap) or else Landlock, seccomp and a uid of its own, "
        f"and refuse where neither holds; {NONE_MEANS}. Default: GRADE_ISOLATION, else strict.",
    )


@click.group()
@click.option(
    "--course",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Course directory holding reference/ and rubrics/ (default: GRADE_COURSE, else the current directory).",
)
@click.version_option(package_name="grader")
@click.pass_context
def main(ctx: click.Context, course: Path | None) -> None:
    """Grade numerical programming assignments."""
    try:
        settings = install(Settings.from_env())
    except GraderError as exc:
        raise UsageProblem(str(exc)) from None
    ctx.call_on_close(reset)
    _configure_logging(settings)
    ctx.obj = Cli(settings, course if course is not None else settings.course_path)


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a line is logged (click's test runner swaps it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _configure_logging(settings: Settings) -> None:
    """The grader's log lines on stderr, at GRADE_LOG_LEVEL (one handler per process)."""
    logger = logging.getLogger("grader")
    logger.setLevel(settings.log_level_number())
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--assignment", "-a", required=True, help="Assignment name (rubrics/NAME.toml).")
@click.option("--student", "-s", help="Student id, stored exactly as given (local grading; with a server, your token names you).")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Seed of the random cases (default: fresh; local grading only).")
@click.option("--no-wait", is_flag=True, help="With a server: print the receipt and return at once; `grade report` shows the result later.")
@isolation_option()
@click.pass_obj
@_one_line_errors
def submit(
    cli: Cli, path: Path, assignment: str, student: str | None, as_json: bool, seed: int | None, no_wait: bool, isolation: str | None
) -> None:
    """Grade the .py file or .ipynb notebook at PATH and store the result; with a server
    configured (`grade login`), upload it to the server and show its result."""
    login = cli.login()
    if login is not None:
        if student is not None or seed is not None:
            raise UsageProblem("with a server configured your token names you and the server draws the cases: drop --student and --seed.")
        _submit_remotely(login, path, assignment, as_json=as_json, wait=not no_wait)
        return
    if student is None:
        raise UsageProblem("pass --student ID to grade locally, or run grade login --server URL --token TOKEN to submit to your course's server.")
    if no_wait:
        raise UsageProblem("--no-wait is for submitting to a server (grade login); local grading always waits.")
    from grader.reports import Header, render_text
    from grader.submit import submit as submit_file

    isolation = cli.isolation(isolation)
    _warn_if_weakly_isolated(isolation)
    done = submit_file(path, assignment=assignment, student=student, course=cli.course, db_url=cli.db_url, seed=seed, isolation=isolation)
    if as_json:
        click.echo(json.dumps(done.to_json()))
        return
    result = done.result
    header = Header(
        done.submission_id, student, assignment, result.status, result.message, result.score, result.max_score,
        filename=path.name, isolation=result.isolation, late_days=done.late_days, penalty=done.penalty,
    )
    click.echo(render_text(header, result.checks, result.warnings, done.rubric))


#: seconds between two "still grading" lines while a server grades an upload
PROGRESS_EVERY = 5.0


def _submit_remotely(login: Login, path: Path, assignment: str, *, as_json: bool, wait: bool) -> None:
    from grader.client import Client
    from grader.login import ServerUnreachable

    with Client(login) as client:
        receipt = client.upload(path, assignment)
        submission_id = int(receipt["submission_id"])
        late = f", {receipt.get('late_days')} days late" if receipt.get("late_days") else ""
        if not wait:
            click.echo(json.dumps(receipt) if as_json else printable(
                f"submission {submission_id} received at {receipt.get('submitted_at')}{late}; "
                f"grade report --assignment {assignment} shows its result once graded."
            ))
            return
        shown = [0.0]  # when progress was last said

        def progress(waited: float) -> None:
            if not as_json and waited - shown[0] >= PROGRESS_EVERY:
                shown[0] = waited
                click.echo(f"still grading ({waited:.0f} s)...", err=True)

        if not as_json:
            click.echo(printable(f"submission {submission_id} received{late}; grading..."), err=True)
        try:
            found = client.wait(submission_id, progress=progress)
        except ServerUnreachable as exc:  # the upload is recorded all the same: the server grades it
            raise ServerUnreachable(
                f"{str(exc).rstrip('.')}. Submission {submission_id} was received and is graded all the same; "
                f"grade report --assignment {assignment} shows it once graded."
            ) from None
        if found.get("status") == "pending":  # recorded all the same: the server grades it
            click.echo(json.dumps(found) if as_json else printable(
                f"submission {submission_id} is still being graded; grade report --assignment {assignment} shows it once graded."
            ))
            return
        click.echo(json.dumps(found) if as_json else printable(client.report(submission_id, "text")), nl=as_json)


@main.command()
@click.option("--server", required=True, help="Your course's grader, e.g. https://grader.example.edu.")
@click.option("--token", required=True, help="The token your instructor gave you.")
@_one_line_errors
def login(server: str, token: str) -> None:
    """Remember your course's server and your token (in $XDG_CONFIG_HOME/grade/config.toml, mode
    0600): then grade submit, report and history go to the server."""
    from grader.client import Client
    from grader.login import configured, save_login

    path = save_login(server, token)
    login = configured(None, None, path)
    assert login is not None
    with Client(login) as client:
        assignments = client.assignments()
    names = ", ".join(str(a.get("name")) for a in assignments) or "none yet"
    click.echo(printable(f"saved to {path}; {login.server} accepts your token. Assignments: {names}."))


@main.command()
@click.option("--assignment", "-a", required=True, help="Assignment name.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON array.")
@click.pass_obj
@_one_line_errors
def history(cli: Cli, assignment: str, as_json: bool) -> None:
    """Your submissions of an assignment on the server: time, status, score, late penalty."""
    from grader.client import Client

    login = cli.login()
    if login is None:
        raise UsageProblem("grade history asks your course's server: run grade login --server URL --token TOKEN first.")
    with Client(login) as client:
        items = client.history(assignment)
    if as_json:
        click.echo(json.dumps(items))
        return
    if not items:
        click.echo(printable(f"no submissions of {assignment} yet."))
        return
    everyone = len({str(item.get("student", "")) for item in items}) > 1  # an instructor's history
    who = f"  {'student':<16}" if everyone else ""
    click.echo(f"{'id':>6}  {'submitted at':<32}{who}  {'status':<8}  {'score':>13}  late")
    for item in items:
        score, penalty = item.get("score"), item.get("penalty")
        shown = "-" if not isinstance(score, int | float) else f"{score:g} of {item.get('max_score') or 0:g}"
        late = ""
        if item.get("late_days"):
            late = f"{item.get('late_days')} d" + (f", -{penalty:g} points" if isinstance(penalty, int | float) and penalty else "")
        student = f"  {str(item.get('student', '')):<16}" if everyone else ""
        line = f"{item.get('submission_id', ''):>6}  {str(item.get('submitted_at', '')):<32}{student}  {str(item.get('status', '')):<8}  {shown:>13}  {late}"
        click.echo(printable(line.rstrip()))
@main.command()
@click.option("--assignment", "-a", required=True, help="Assignment name.")
@click.option("--student", "-s", help="Student id: report this student's latest submission.")
@click.option("--all", "everyone", is_flag=True, help="Report every student's latest submission, one file each in -o DIR, plus an index.")
@click.option("--format", "-f", "format_", type=click.Choice(REPORT_FORMATS), default="text", show_default=True,
              help="text, md (Markdown) or html (self-contained, with pictures of wrong gradients).")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write to this file (with --all: this directory) instead of printing.")
@click.pass_obj
@_one_line_errors
def report(cli: Cli, assignment: str, student: str | None, everyone: bool, format_: str, output: Path | None) -> None:
    """Show a student's latest result for an assignment, or write every student's; with a server
    configured (grade login), your own latest result from the server (an instructor's token:
    --student ID's)."""
    login = cli.login()
    if login is not None:
        if everyone:
            raise UsageProblem("with a server configured, reports come one at a time: drop --all (an instructor names a student with --student ID).")
        from grader.client import Client

        with Client(login) as client:
            text = client.report(int(client.latest(assignment, student)["submission_id"]), format_)
        if output is None:
            click.echo(printable(text), nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            click.echo(f"wrote {output}", err=True)
        return
    from grader.reports import report as student_report
    from grader.reports import report_all

    if (student is not None) == everyone:
        raise UsageProblem("give either --student ID or --all.")
    if student is None:  # --all
        if output is None:
            raise UsageProblem("--all writes one file per student: give the directory with -o DIR.")
        files = report_all(assignment, output, course=cli.course, db_url=cli.db_url, format=format_)
        click.echo(f"wrote {len(files) - 1} reports and the index {files[-1]}", err=True)
        return
    text = student_report(student, assignment, course=cli.course, db_url=cli.db_url, format=format_, output=output)
    if output is None:
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {output}", err=True)


@main.command()
@click.option("--assignment", "-a", required=True, help="Assignment name.")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), help="Also write summary.html and histogram.png into this directory.")
@click.pass_obj
@_one_line_errors
def summary(cli: Cli, assignment: str, output: Path | None) -> None:
    """For the instructor: statuses, score histogram, per-part averages, frequent diagnoses."""
    from grader.reports import class_summary

    click.echo(class_summary(assignment, course=cli.course, db_url=cli.db_url, output=output), nl=False)
    if output is not None:
        click.echo(f"wrote {output / 'summary.html'} and {output / 'histogram.png'}", err=True)


@main.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--assignment", "-a", required=True, help="Assignment name (rubrics/NAME.toml).")
@click.option("--workers", "-w", type=click.IntRange(1, 256), help="Parallel sandboxes (default: the number of cores).")
@click.option("--backend", type=click.Choice(["local", "celery"]), default="local", show_default=True,
              help="local: sandboxes on this machine; celery: the workers on GRADE_BROKER_URL (see `grade worker`).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="celery: stop waiting after this many seconds and name the unfinished submissions (default: no bound).")
@click.option("--json", "as_json", is_flag=True, help="Print only one JSON summary.")
@click.option("--canvas-names", is_flag=True,
              help="DIRECTORY is Canvas's bulk download: each file is the rostered student's whose Canvas user ID is in its name.")
@isolation_option()
@click.pass_obj
@_one_line_errors
def batch(
    cli: Cli, directory: Path, assignment: str, workers: int | None, backend: str, timeout: float | None, as_json: bool,
    canvas_names: bool, isolation: str | None,
) -> None:
    """Grade every submission in DIRECTORY: <student>.py, <student>.ipynb or <student>/ with one;
    with --canvas-names, the files of Canvas's bulk download, <login>_<user ID>_<file>_<name>.

    Resumable: a rerun skips what is already graded and finishes what an interrupted run left.
    Exit code 1 when some submissions were left unfinished (each is named).
    """
    from grader.batch import run_batch
    from grader.progress import Progress

    isolation = cli.isolation(isolation)
    _warn_if_weakly_isolated(isolation)
    with Progress(enabled=not as_json) as progress:
        summary = run_batch(
            directory, assignment=assignment, course=cli.course, db_url=cli.db_url, workers=workers, backend=backend,
            isolation=isolation, progress=progress.update, timeout=timeout, canvas_names=canvas_names,
        )
    if as_json:
        click.echo(json.dumps(summary.to_json()))
    else:
        _print_batch(summary)
    if summary.unfinished:
        sys.exit(1)


def _print_batch(summary: Summary) -> None:
    facts = summary.to_json()
    for skipped in summary.skipped:
        click.echo(printable(f"skipped {skipped.path}: {skipped.reason}"))
    for done in summary.done:
        if done.note:
            click.echo(printable(f"not recorded {done.student}: {done.note}"))
    for unfinished in summary.unfinished:
        click.echo(printable(f"unfinished {unfinished.student}: {unfinished.reason}"))
    if summary.unfinished:
        click.echo(f"{len(summary.unfinished)} unfinished: a rerun grades them (or the next command closes them as interrupted).")
    counts = ", ".join(f"{n} {status}" for status, n in sorted(facts["counts"].items()))
    mean = f"{facts['mean_score']:.1f}" if facts["mean_score"] is not None else "-"
    lost = f", {facts['not_recorded']} not recorded" if facts["not_recorded"] else ""
    click.echo(
        f"{facts['submissions']} submissions ({counts or 'none'}{lost}), {len(summary.skipped)} skipped; "
        f"mean score {mean} of {summary.done[0].max_score if summary.done else 0:g}; "
        f"{facts['wall_seconds']:.1f} s, {facts['submissions_per_second'] or 0:.1f} submissions/s"
    )


@main.command("export")
@click.option("--assignment", "-a", required=True, help="Assignment name.")
@click.option("--format", "format_", type=click.Choice(["csv", "canvas", "gradescope"]), default="csv", show_default=True,
              help="csv: total and parts per student; canvas: Canvas gradebook import; gradescope: results.json of one student.")
@click.option("--policy", type=click.Choice(["latest", "best"]), default="latest", show_default=True, help="Which submission counts.")
@click.option("--student", "-s", help="Only this student (needed for gradescope when several have results).")
@click.option("--canvas-assignment", metavar="'NAME (ID)'",
              help="canvas: fill this existing Canvas assignment, e.g. 'Homework 3 (1234)' (the ID ends its page's URL).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@click.pass_obj
@_one_line_errors
def export_command(
    cli: Cli, assignment: str, format_: str, policy: str, student: str | None, canvas_assignment: str | None, output: Path | None
) -> None:
    """Export grades: a spreadsheet CSV, a Canvas import CSV, or Gradescope's results.json."""
    from grader.exports import export

    text = export(
        assignment=assignment, format=format_, policy=policy, student=student, canvas_assignment=canvas_assignment,
        course=cli.course, db_url=cli.db_url,
    )
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise GraderError(f"cannot write {output}: {exc.strerror}.") from None
    click.echo(f"wrote {output}", err=True)


@main.command("gradescope-bundle")
@click.argument("assignment", metavar="NAME")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The zip to write, e.g. autograder.zip.")
@click.pass_obj
@_one_line_errors
def gradescope_bundle(cli: Cli, assignment: str, output: Path) -> None:
    """Build the zip Gradescope's autograder runs for assignment NAME: it installs the grader in
    Gradescope's container and grades each submission there under strict isolation."""
    from grader.gradescope import bundle

    members = bundle(assignment, output, course=cli.course)
    click.echo(printable(f"wrote {output} ({len(members)} files): upload it as the autograder of {assignment} on Gradescope"), err=True)


@main.command("check")
@click.argument("assignment", metavar="NAME")
@click.option("--seeds", type=click.IntRange(1, 100_000), default=200, show_default=True,
              help="Seeds the reference is graded on, in float64 and in float32.")
@click.option("--mistake-seeds", type=click.IntRange(1, 100_000), default=20, show_default=True,
              help="Seeds every form of every mistake is graded on.")
@click.pass_obj
@_one_line_errors
def check(cli: Cli, assignment: str, seeds: int, mistake_seeds: int) -> None:
    """Self-test assignment NAME for its authors: the reference (also in float32) scores full
    marks, every mistake loses points and is diagnosed as itself, no two mistakes look alike,
    float32 and the mistakes sit well clear of each tolerance, and every output has notation.
    Prints the mistake x check table and one line per problem; exit 0 only when there are none."""
    from grader.authoring import check_assignment, render
    from grader.course import Course

    loaded = Course(cli.course).assignment(assignment)
    shown: dict[str, int] = {}

    def progress(phase: str, done: int, total: int) -> None:
        step = max(1, total // 4)
        if done == total or done // step > shown.get(phase, 0):
            shown[phase] = done // step
            click.echo(f"{phase}: {done}/{total}", err=True)

    found = check_assignment(loaded, seeds=seeds, mistake_seeds=mistake_seeds, progress=progress)
    click.echo(printable(render(found, loaded)))
    if not found.ok:
        sys.exit(1)


@main.command("new")
@click.argument("assignment", metavar="NAME")
@click.pass_obj
@_one_line_errors
def new(cli: Cli, assignment: str) -> None:
    """Write a starting assignment NAME that passes grade check: reference/NAME.py,
    reference/NAME_mistakes.py and rubrics/NAME.toml (a linear layer's forward and backward
    passes), to edit into your own. Never overwrites a file."""
    from grader.scaffold import new_assignment

    for path in new_assignment(cli.course, assignment):
        click.echo(printable(f"wrote {path}"))
    click.echo(printable(f"next: edit them, then run grade check {assignment} until it reports no problems"), err=True)


@main.command()
@click.option("--concurrency", "-c", type=click.IntRange(1, 256), help="Grading processes (default: the number of cores).")
@click.pass_obj
@_one_line_errors
def worker(cli: Cli, concurrency: int | None) -> None:
    """Grade submissions from the queue at GRADE_BROKER_URL (default redis://127.0.0.1:6379/0)."""
    from grader import extras

    try:
        from grader.batch.celery_backend import start_worker
    except ImportError as exc:
        raise extras.require(exc, "grade worker") from None
    start_worker(cli.settings, cli.course, concurrency)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (behind a TLS proxy: keep 127.0.0.1).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", "-w", type=click.IntRange(1, 256), help="local: grading processes (default: the number of cores).")
@click.option("--backend", type=click.Choice(["local", "celery"]), default="local", show_default=True,
              help="local: sandboxes on this machine; celery: the workers on GRADE_BROKER_URL (see `grade worker`).")
@isolation_option()
@click.pass_obj
@_one_line_errors
def serve(cli: Cli, host: str, port: int, workers: int | None, backend: str, isolation: str | None) -> None:
    """Serve the course over HTTP: students upload with their token and read their results."""
    from grader.service import serve as serve_course

    isolation = cli.isolation(isolation)
    _warn_if_weakly_isolated(isolation)
    serve_course(cli.settings, course=cli.course, host=host, port=port, workers=workers, backend=backend, isolation=isolation)


@main.command()
def doctor() -> None:
    """Show which isolation path and layers this machine gives submissions."""
    from grader.sandbox import cgroups
    from grader.sandbox.isolation import TMPFS_MB, detect

    layers = detect()
    parents, no_cgroup = cgroups.detect()
    fallback = layers.landlock and not layers.bubblewrap
    if layers.landlock:
        scope = "; signals and abstract sockets scoped" if layers.landlock >= 6 else "; no signal scoping (ABI < 6)"
        landlock = f"ABI {layers.landlock}: reads only the Python installation and numpy, writes only its scratch directory; no TCP{scope}"
        landlock += f"; scratch on a {TMPFS_MB} MiB tmpfs" if layers.tmpfs else "; scratch on the machine's /tmp, not size-limited (cannot mount a tmpfs)"
        landlock += "" if fallback else " (the fallback path; namespaces are used)"
        if not layers.stdlib_readable:
            landlock += "; the child's uid may not read the standard library, so it imports only the modules the zygote preloads"
    else:
        landlock = layers.landlock_reason
    rows = [
        ("process", True, "separate process, rlimits, empty environment, wall-clock limit"),
        ("seccomp", layers.seccomp, "pyseccomp/libseccomp: ptrace, process_vm_*, mount, namespaces, every socket family but AF_UNIX refused"),
        ("namespaces", layers.bubblewrap is not None, f"bubblewrap at {layers.bubblewrap}: no network, own PID namespace, read-only Python, tmpfs scratch" if layers.bubblewrap else layers.reason),
        ("landlock", bool(layers.landlock), landlock),
        ("uid", layers.uid, "each child runs under a uid of its own (0x70000000 + its pid), with no capability" if layers.uid else layers.uid_reason),
    ]
    caps = f"{parents}: all a submission holds (files, memfds included) and its threads capped" if parents else no_cgroup
    rows.append(("cgroups", parents is not None, caps))
    for name, present, detail in rows:
        click.echo(f"{name:<11} {'yes' if present else 'no ':<4} {detail}")
    if layers.strict:
        click.echo(f"path: {layers.path}")
    else:
        click.echo(f"path: none (strict isolation will refuse to grade: {layers.why_not_strict()})")
    click.echo(f"level: {layers.level}")


@main.command("env")
@click.argument("assignment", metavar="NAME")
@click.option("--install", "install_missing", is_flag=True, help="Run the pip command that installs the missing packages into the grader's Python.")
@click.pass_obj
@_one_line_errors
def env_command(cli: Cli, assignment: str, install_missing: bool) -> None:
    """Say what submissions to assignment NAME may import (the standard library, numpy and the
    rubric's [environment] packages) and which of those the grader's Python lacks, with the
    pip command that installs them. Exit code 1 while any is missing."""
    from grader import environment
    from grader.course import Course
    from grader.sandbox.isolation import detect

    rubric = Course(cli.course).assignment(assignment).rubric
    absent = environment.missing(rubric.packages)
    if absent and install_missing:
        command = environment.install_command(absent)
        click.echo(f"running: {environment.shown(command)}", err=True)
        code = environment.install(absent)
        if code != 0:
            raise GraderError(f"pip failed (exit code {code}); nothing else was changed.")
        absent = environment.missing(rubric.packages)
    for requirement in ("numpy", *rubric.packages):
        state = environment.status(requirement)
        click.echo(printable(f"{requirement:<20} {'no ' if requirement in absent else 'yes'}  {state}"))
    imports = environment.imports(rubric.packages)
    click.echo(printable(f"submissions may import the standard library and the modules {', '.join(imports.modules)}"))
    layers = detect()
    if layers.path == "landlock" and not layers.stdlib_readable:
        click.echo("note: on this machine's Landlock path a submission cannot read the standard library, so a package imports only "
                   "what the zygote preloads (see grade doctor)")
    if absent:
        click.echo(printable(f"missing: {', '.join(absent)}; install with: {environment.shown(environment.install_command(absent))}"))
        sys.exit(1)


def _warn_if_weakly_isolated(mode: str) -> None:
    from grader.sandbox.isolation import detect

    layers = detect()
    if mode == "none" and not layers.strict:
        click.secho(
            f"WARNING: grading without isolation (level {layers.level}: {layers.why_not_strict()}); "
            "submissions can read and change what the grader's user can.",
            fg="red",
            err=True,
        )


@main.group()
def roster() -> None:
    """The course's roster: the students who may submit over HTTP."""


@roster.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.pass_obj
@_one_line_errors
def roster_import(cli: Cli, file: Path) -> None:
    """Add the students of FILE (CSV: id,name,email, or Canvas's gradebook export) to the roster,
    updating the names and emails of those already on it."""
    from grader.people import import_roster

    added, updated = import_roster(file, course=cli.course, db_url=cli.db_url)
    click.echo(f"{added} added, {updated} updated")


@roster.command("list")
@click.pass_obj
@_one_line_errors
def roster_list(cli: Cli) -> None:
    """Show the roster: id, name and email of each student, by id."""
    from grader.people import roster as read

    entries = read(course=cli.course, db_url=cli.db_url)
    table = [("id", "name", "email"), *((e.id, e.name, e.email) for e in entries)]
    widths = [max(len(row[i]) for row in table) for i in range(2)]
    for row in table:
        click.echo(printable(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}".rstrip()))
    if not entries:
        click.echo("the roster is empty: add students with grade roster import FILE.csv", err=True)


@main.group()
def token() -> None:
    """Bearer tokens of the HTTP API: one per student or instructor, shown once."""


@token.command("issue")
@click.argument("subject", metavar="ID")
@click.option("--role", type=click.Choice(["student", "instructor"]), default="student", show_default=True,
              help="student: ID must be on the roster; instructor: ID becomes an instructor of the course.")
@click.pass_obj
@_one_line_errors
def token_issue(cli: Cli, subject: str, role: str) -> None:
    """Issue a new token for ID and print it, alone on the last line: it is shown only this once
    (the gradebook keeps its hash)."""
    from grader.people import issue_token

    new = issue_token(subject, "instructor" if role == "instructor" else "student", course=cli.course, db_url=cli.db_url)
    click.echo(printable(f"token for the {role} {subject!r} (shown once; only its hash is kept):"))
    click.echo(new)


@token.command("link")
@click.argument("subject", metavar="ID")
@click.option("--role", type=click.Choice(["student", "instructor"]), default="student", show_default=True,
              help="student: ID must be on the roster; instructor: ID must have an instructor token.")
@click.option("--server", envvar="GRADE_SERVER", default="http://127.0.0.1:8000", show_default=True,
              help="The address students open (the TLS proxy's), as in grade login; GRADE_SERVER sets it too.")
@click.option("--hours", type=float, default=72.0, show_default=True, help="How long the link stays usable (it works once).")
@click.pass_obj
@_one_line_errors
def token_link(cli: Cli, subject: str, role: str, server: str, hours: float) -> None:
    """Print a one-time sign-in link to the web pages for ID, alone on the last line: mail it to
    them; it signs in once, within --hours."""
    from grader.people import sign_in_link

    link = sign_in_link(subject, "instructor" if role == "instructor" else "student", server, hours, course=cli.course, db_url=cli.db_url)
    click.echo(printable(f"one-time sign-in link for the {role} {subject!r} (valid {hours:g} hours, once):"))
    click.echo(link)


@token.command("revoke")
@click.argument("subject", metavar="ID")
@click.pass_obj
@_one_line_errors
def token_revoke(cli: Cli, subject: str) -> None:
    """Revoke every token of ID: the HTTP API refuses them from now on."""
    from grader.people import revoke_tokens

    count = revoke_tokens(subject, course=cli.course, db_url=cli.db_url)
    click.echo(printable(f"revoked {count} token{'s' if count != 1 else ''} of {subject!r}"))


@main.command()
@click.argument("student", metavar="ID")
@click.option("--assignment", "-a", required=True, help="Assignment name.")
@click.option("--days", type=float, required=True, help="Days more (a fraction is fine); 0 takes an extension away.")
@click.pass_obj
@_one_line_errors
def extend(cli: Cli, student: str, assignment: str, days: float) -> None:
    """Give the student ID more time on an assignment: its due date and closing move by --days,
    replacing an earlier extension."""
    from grader.people import extend as extend_

    due, closes = extend_(student, assignment, days, course=cli.course, db_url=cli.db_url)
    times = ", ".join(f"{name} {moment.isoformat()}" for name, moment in (("due", due), ("closes", closes)) if moment is not None)
    click.echo(printable(f"{student!r} has {days:g} more days on {assignment}: " + (times or "it has no due date or closing time")))


@main.group()
def db() -> None:
    """Manage the gradebook database (GRADE_DB_URL, default sqlite:///COURSE/grade.db)."""


@db.command()
@click.pass_obj
@_one_line_errors
def upgrade(cli: Cli) -> None:
    """Create the gradebook or bring its schema up to date."""
    from grader.workspace import Workspace

    with Workspace(cli.course, cli.db_url).gradebook(upgrade=False) as gradebook:
        before, after = gradebook.upgrade()
    click.echo(f"gradebook at revision {after}" + (f" (was {before or 'empty'})" if before != after else " (up to date)"))


if __name__ == "__main__":
    sys.exit(main())
