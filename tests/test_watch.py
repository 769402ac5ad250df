"""The long poll's watcher: however many requests wait, one read of the gradebook per tick,
and each request wakes when its own submission is finished or its time is up."""

from __future__ import annotations

import asyncio
import threading

from grader.service.watch import Watcher


class Book:
    """A stand-in for the gradebook's ``finished_among``: the ids marked finished so far, and
    every read it was asked for."""

    def __init__(self) -> None:
        self.finished: set[int] = set()
        self.reads: list[list[int]] = []
        self.read = threading.Event()
        self.failing = 0

    def finished_among(self, ids: list[int]) -> set[int]:
        self.reads.append(list(ids))
        self.read.set()
        if self.failing:
            self.failing -= 1
            raise RuntimeError("the database is away")
        return self.finished & set(ids)


async def next_read(book: Book) -> None:
    book.read.clear()
    await asyncio.get_running_loop().run_in_executor(None, book.read.wait, 10)


def test_many_waiters_cost_one_read_a_tick_and_each_wakes_for_its_own() -> None:
    book = Book()

    async def scenario() -> None:
        watcher = Watcher(book.finished_among, tick=0.01)
        waiters = {i: asyncio.create_task(watcher.until_finished(i, 30)) for i in range(1, 101)}
        twice = asyncio.create_task(watcher.until_finished(7, 30))  # two requests for one submission
        await next_read(book)
        assert watcher.waiting == 101
        book.finished.update({7, 42})
        assert await twice is True and await waiters[7] is True and await waiters[42] is True
        assert not any(waiters[i].done() for i in waiters if i not in (7, 42))
        # every read asked for all the waited-for ids at once, in one call
        assert book.reads[0] == list(range(1, 101))
        book.finished.update(range(1, 101))
        assert all(await asyncio.gather(*waiters.values()))
        assert watcher.waiting == 0
        await watcher.close()

    asyncio.run(scenario())


def test_a_waiter_whose_time_is_up_hears_false_and_stops_being_read() -> None:
    book = Book()

    async def scenario() -> None:
        watcher = Watcher(book.finished_among, tick=0.01)
        assert await watcher.until_finished(5, 0.05) is False
        assert watcher.waiting == 0
        await asyncio.wait_for(watcher.idle(), 10)  # nobody waits: the watcher stops reading
        assert all(read == [5] for read in book.reads)
        # and it starts again for the next request
        book.finished.add(6)
        assert await watcher.until_finished(6, 30) is True
        await watcher.close()

    asyncio.run(scenario())


def test_a_failed_read_keeps_the_waiters_until_a_read_succeeds() -> None:
    book = Book()
    book.failing = 2
    book.finished.add(9)

    async def scenario() -> None:
        watcher = Watcher(book.finished_among, tick=0.01)
        assert await watcher.until_finished(9, 30) is True
        assert len(book.reads) == 3 and book.failing == 0
        await watcher.close()

    asyncio.run(scenario())
