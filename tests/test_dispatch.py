"""Uploads to `grade serve` in the gradebook: graded by id, once; spared by the tidying of other
commands; taken over by a server when their holder stops, and sent again when no grader took them."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import CORRECT
from test_leases import a_dead_owner

from grader.batch.claims import ALREADY_GRADED, HELD_ELSEWHERE, claim, grade_by_id
from grader.db import Gradebook
from grader.leases import Lease, is_upload, upload_key
from grader.loading import Submission
from grader.service import dispatch
from grader.service.dispatch import Dispatch
from grader.workspace import INTERRUPTED, Workspace


def upload(book: Gradebook, workspace: Workspace, lease: Lease, student: str = "ada", content: str = CORRECT, version: str | None = None) -> int:
    """An upload recorded as `grade serve` records it: under an upload key, leased to ``lease``."""
    return book.claim_submission(
        batch_key=upload_key(), student=student, assignment="backprop", filename="hw.py", content=content.encode(), seed=7,
        rubric_version=version or workspace.assignment("backprop").version, lease=lease,
    ).id


def test_upload_keys_are_unique_and_told_apart_from_batch_keys() -> None:
    keys = {upload_key() for _ in range(100)}
    assert len(keys) == 100 and all(is_upload(k) and len(k) <= 64 for k in keys)
    assert not is_upload(None) and not is_upload("ab" * 32)


def test_other_commands_spare_pending_uploads_and_close_other_orphans(course: Path, db_url: str) -> None:
    workspace = Workspace(course, db_url)
    dead = Lease(a_dead_owner("grade serve"), 3600)
    with Gradebook(db_url) as book:
        uploaded = upload(book, workspace, dead)
        batched = claim(book, "backprop", "v", "bea", Submission("bea.py", b"x", "python"), dead).id
    with workspace.gradebook() as book:  # what `grade report`, `summary`, ... open
        kept, closed = book.get(uploaded), book.get(batched)
    assert kept is not None and kept.status == "pending"
    assert closed is not None and (closed.status, closed.message) == ("error", INTERRUPTED)


def test_an_upload_is_graded_by_id_once(course: Path, db_url: str) -> None:
    workspace = Workspace(course, db_url)
    server, grader = Lease("grade serve on here pid 1", 60), Lease.mine("grade serve worker", 60)
    with Gradebook(db_url) as book:
        sid = upload(book, workspace, server)
        done = grade_by_id(book, workspace.assignment, sid, "strict", grader, queued_by=server.owner)
        again = grade_by_id(book, workspace.assignment, sid, "strict", grader, queued_by=server.owner)
        stored = book.get(sid)
        attempts = book.pending() == [] and book.take(sid, grader).attempts
    assert (done.status, done.score, done.submission_id) == ("graded", 100.0, sid)
    assert again.status == ALREADY_GRADED
    assert stored is not None and (stored.status, stored.score, stored.seed) == ("graded", 100.0, 7)
    assert attempts == 1  # one grading took it


def test_an_upload_another_live_grader_holds_is_left_to_it(course: Path, db_url: str) -> None:
    workspace = Workspace(course, db_url)
    with Gradebook(db_url) as book:
        sid = upload(book, workspace, Lease("grade serve worker elsewhere", 3600))
        done = grade_by_id(book, workspace.assignment, sid, "strict", Lease.mine("grade serve worker", 60), queued_by="a server")
        stored = book.get(sid)
    assert done.status == HELD_ELSEWHERE and stored is not None and stored.status == "pending"


def test_an_upload_recorded_before_its_assignment_was_edited_is_graded_as_the_course_is_now(course: Path, db_url: str) -> None:
    workspace = Workspace(course, db_url)
    server = Lease("server", 60)
    with Gradebook(db_url) as book:
        sid = upload(book, workspace, server, version="0123456789abcdef")
        done = grade_by_id(book, workspace.assignment, sid, "strict", Lease.mine("grade serve worker", 60), queued_by="server")
        stored = book.get(sid)
    assert (done.status, done.score) == ("graded", 100.0)
    assert stored is not None and (stored.status, stored.score) == ("graded", 100.0)
    assert stored.rubric_version == workspace.assignment("backprop").version != "0123456789abcdef"


class Recorder:
    """Graders that only note what they were sent (the sweep's decisions are under test here;
    real graders in test_serve.py)."""

    def __init__(self, depth: int = 0) -> None:
        self.sent: list[int] = []
        self.waiting = depth

    def send(self, submission_id: int) -> bool:
        self.sent.append(submission_id)
        return True

    def depth(self) -> int | None:
        return self.waiting

    def problems(self) -> dict[str, str]:
        return {}

    def close(self) -> list[int]:
        return []


def test_a_sweep_takes_over_uploads_whose_holder_stopped_and_nothing_else(course: Path, db_url: str) -> None:
    workspace = Workspace(course, db_url)
    me = Lease.mine("grade serve", 60)
    with Gradebook(db_url) as book:
        killed_server = upload(book, workspace, Lease(a_dead_owner("grade serve"), 3600), "ada")
        killed_grader = upload(book, workspace, Lease(a_dead_owner("grade serve worker"), 3600), "bea")
        lapsed_elsewhere = upload(book, workspace, Lease("grade serve on another machine pid 7", -1), "cy")
        alive_elsewhere = upload(book, workspace, Lease("grade serve worker on another machine pid 8", 3600), "dee")
        batch_orphan = claim(book, "backprop", "v", "eve", Submission("eve.py", b"x", "python"), Lease(a_dead_owner(), 3600)).id
        graders = Recorder()
        sweep = Dispatch(book, me, graders)
        assert sorted(sweep.sweep()) == sorted([killed_server, killed_grader, lapsed_elsewhere])
        assert sorted(graders.sent) == sorted([killed_server, killed_grader, lapsed_elsewhere])
        owners = {p.id: p.owner for p in book.pending()}
        assert sweep.sweep() == []  # sent a moment ago: not again
    assert {owners[i] for i in (killed_server, killed_grader, lapsed_elsewhere)} == {me.owner}
    assert owners[alive_elsewhere] == "grade serve worker on another machine pid 8"
    assert owners[batch_orphan] != me.owner  # a batch's orphan is the batch's or tidy's


def test_a_sweep_sends_again_what_no_grader_took_once_the_queue_is_empty(
    course: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatch, "RESEND_AFTER_SECONDS", 0.0)
    workspace = Workspace(course, db_url)
    me = Lease.mine("grade serve", 60)
    with Gradebook(db_url) as book:
        sid = upload(book, workspace, me)
        graders = Recorder(depth=1)
        sweep = Dispatch(book, me, graders)
        sweep.send(sid)
        assert sweep.sweep() == []  # something still waits in the queue: it may be this one
        graders.waiting = 0
        assert sweep.sweep() == [sid]  # the queue is empty and the upload is still ours: lost
        book.take(sid, Lease("grade serve worker", 60), queued_by=me.owner)
        assert sweep.sweep() == []  # a grader has it
    assert graders.sent == [sid, sid]
