"""The grading processes' pool (grader.pool): every job is done once, whatever a process dies of."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from grader.pool import MAX_HANDOUTS, Pool, PoolBroken, serve


def _square_unless_told_to_die(connection: Any, marks: str) -> None:
    """Squares numbers; a negative number kills its process the first time it is handed out
    (a file in ``marks`` remembers), ``"always"`` every time."""

    def work(job: Any) -> Any:
        if job == "always":
            os.kill(os.getpid(), signal.SIGKILL)
        if job < 0:
            mark = Path(marks) / str(job)
            if not mark.exists():
                mark.write_text("died once")
                os.kill(os.getpid(), signal.SIGKILL)
        return job * job

    serve(connection, work)


def run(pool: Pool, expected: int) -> list[Any]:
    results: list[Any] = []
    while len(results) + len(pool.abandoned) < expected:
        results += pool.step(30)
    return results


@pytest.fixture
def pool(tmp_path: Path) -> Any:
    made = Pool(multiprocessing.get_context("fork"), 2, _square_unless_told_to_die, (str(tmp_path),), "test worker")
    yield made
    made.close()
    made.release()


def test_every_job_is_done_once(pool: Pool) -> None:
    for n in range(20):
        pool.put(n)
    assert sorted(run(pool, 20)) == [n * n for n in range(20)]
    assert pool.depth() == 0 and pool.abandoned == []


def test_a_process_that_dies_with_a_job_is_replaced_and_the_job_done_by_another(pool: Pool) -> None:
    first = {w.process.pid for w in pool._workers}
    for n in (1, -2, 3, -4, 5):
        pool.put(n)
    assert sorted(run(pool, 5)) == [1, 4, 9, 16, 25]
    assert pool.stopped() == 0 and pool.size() == 2
    assert len(first - {w.process.pid for w in pool._workers}) >= 1  # the dead were replaced


def test_a_job_every_process_dies_with_is_given_up_and_the_rest_done(pool: Pool) -> None:
    for job in ("always", 2, 3):
        pool.put(job)
    assert sorted(run(pool, 3)) == [4, 9]
    assert pool.abandoned == ["always"]
    assert pool.stopped() == 0 and MAX_HANDOUTS == 4


def test_idle_processes_killed_take_nothing_with_them(pool: Pool) -> None:
    pool.put(0)
    assert run(pool, 1) == [0]  # both processes have started and asked for work
    for worker in list(pool._workers):
        os.kill(worker.process.pid, signal.SIGKILL)
    for n in range(4):
        pool.put(n)
    assert sorted(run(pool, 4)) == [0, 1, 4, 9]


def _dies_as_it_starts(connection: Any) -> None:
    os._exit(3)


def test_processes_that_die_as_they_start_break_the_pool_after_a_bound() -> None:
    pool = Pool(multiprocessing.get_context("fork"), 2, _dies_as_it_starts, (), "test worker", give_up_after=3)
    try:
        pool.put(1)
        with pytest.raises(PoolBroken, match=r"every test worker dies as it starts \(3 in a row, the last with exit code 3\)"):
            for _ in range(10):
                pool.step(30)
    finally:
        pool.close()
        pool.release()
