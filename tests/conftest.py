"""Shared fixtures: a private copy of the course and a fresh SQLite gradebook per test,
everything of a run's own on the machine's shared services, and servers of a test's own for
the tests that stop one (``tests/servers.py``).

Two runs of the suite on one machine at the same time must not see each other: each run has
its own TMPDIR (set here, at import, before anything asks tempfile for it), its own PostgreSQL
databases and its own Redis database.
"""

from __future__ import annotations

import os
import shutil
import tempfile

#: This run's private temporary directory, under the one the run was started with: the
#: grader's output and scratch directories, pytest's tmp_path and every subprocess's TMPDIR
#: land in it, and it is removed when the run ends.
RUN_TMP = tempfile.mkdtemp(prefix="grader-tests-")
os.environ["TMPDIR"] = RUN_TMP
tempfile.tempdir = None  # pytest already asked (for its capture files): ask again
# A developer's own `grade login` must not turn the tests' local commands into uploads.
os.environ["XDG_CONFIG_HOME"] = os.path.join(RUN_TMP, "config")
for _variable in ("GRADE_SERVER", "GRADE_TOKEN"):
    os.environ.pop(_variable, None)

import uuid  # noqa: E402 - after TMPDIR is set: nothing below may cache the old one
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import redis  # noqa: E402
import servers  # noqa: E402
from helpers import CORRECT, ROOT  # noqa: E402
from sqlalchemy import create_engine, make_url  # noqa: E402
from sqlalchemy.exc import DBAPIError  # noqa: E402

assert tempfile.gettempdir() == RUN_TMP

#: Admin connection used to create throwaway databases; CI may point it elsewhere.
POSTGRES_ADMIN_URL = os.environ.get(
    "GRADER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: A Redis server whose databases 1..15 runs claim one at a time (claims live in database 0);
#: GRADER_TEST_BROKER_URL instead names one database to use as it is.
REDIS_URL = os.environ.get("GRADER_TEST_REDIS_URL", "redis://127.0.0.1:6379")
BROKER_OVERRIDE = os.environ.get("GRADER_TEST_BROKER_URL")
#: Older copies of this suite flush database 9 without claiming it: it is tried last.
REDIS_DATABASES = [n for n in range(1, 16) if n != 9] + [9]
REDIS_CLAIM_SECONDS = 3600
#: Deletes a claim only while it is still ours.
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def pytest_unconfigure(config: pytest.Config) -> None:
    from grader.sandbox.inside.zygote import remove  # the zygote's own: locked folders, any depth

    remove(RUN_TMP)


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """The repository's course copied to tmp_path, with short time limits for fast tests."""
    root = tmp_path / "course"
    shutil.copytree(ROOT / "reference", root / "reference", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "rubrics", root / "rubrics")
    rubric = root / "rubrics" / "backprop.toml"
    text = rubric.read_text()
    text = text.replace("load_timeout = 10.0", "load_timeout = 3.0").replace("call_timeout = 5.0", "call_timeout = 1.0")
    rubric.write_text(text)
    return root


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    monkeypatch.setenv("GRADE_DB_URL", url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A new SQLite gradebook's URL (the file is made on first use), not in the environment."""
    from grader.db import default_url

    return default_url(tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    """A new gradebook on SQLite, then on the PostgreSQL server."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def correct_source() -> str:
    """A correct answer whose three functions do not call each other."""
    return CORRECT


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A uniquely named empty database on the real server, dropped afterwards."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"grader_test_{uuid.uuid4().hex}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except DBAPIError as exc:
        admin.dispose()
        where = make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)
        pytest.fail(
            f"PostgreSQL at {where} is unusable ({str(exc.orig or exc).splitlines()[0]}); "
            "start the server (CI does) or set GRADER_TEST_POSTGRES_URL.",
            pytrace=False,
        )
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def broker() -> Iterator[str]:
    """A Redis database of this test's own, empty, as a Celery broker URL: claimed atomically
    (``SET grader-tests:db:N TOKEN NX EX``) in database 0 among 1..15, emptied before and after,
    and released. Fails, never skips, when Redis is down or every database is claimed."""
    if BROKER_OVERRIDE:
        with _redis(BROKER_OVERRIDE) as client:
            client.flushdb()
            yield BROKER_OVERRIDE
            client.flushdb()
        return
    token = f"{os.getpid()}-{uuid.uuid4().hex}"
    with _redis(f"{REDIS_URL}/0") as claims:
        number = next((n for n in REDIS_DATABASES if claims.set(f"grader-tests:db:{n}", token, nx=True, ex=REDIS_CLAIM_SECONDS)), None)
        if number is None:
            pytest.fail(
                f"every Redis database 1..15 at {REDIS_URL} is claimed by a test run (keys grader-tests:db:N in "
                "database 0); wait for the other runs, or delete the claims of runs that died.",
                pytrace=False,
            )
        url = f"{REDIS_URL}/{number}"
        try:
            with _redis(url) as client:
                client.flushdb()
                yield url
                client.flushdb()
        finally:
            claims.eval(RELEASE, 1, f"grader-tests:db:{number}", token)


class _redis:
    """A client of the Redis database at ``url`` that has answered a PING, as a context manager;
    the test fails with one line when it does not answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = redis.Redis.from_url(url)

    def __enter__(self) -> redis.Redis:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            self.client.close()
            pytest.fail(f"Redis at {self.url} is unusable ({exc}); start it (CI does) or set GRADER_TEST_BROKER_URL.", pytrace=False)
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[servers.PrivatePostgres]:
    """A PostgreSQL server of this test's own, which it may stop, restart or kill
    (``tests/servers.py``); its URL is ``private_postgres.url``."""
    with servers.private_postgres(tmp_path) as server:
        yield server


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[servers.PrivateRedis]:
    """A Redis server of this test's own, which it may stop, restart or kill
    (``tests/servers.py``); its URL is ``private_redis.url``."""
    with servers.private_redis(tmp_path) as server:
        yield server


#: RabbitMQ on this machine; each test gets a virtual host of its own on it
RABBITMQ_URL = os.environ.get("GRADER_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")


@pytest.fixture
def rabbitmq() -> Iterator[str]:
    """A virtual host of this test's own on the real RabbitMQ server, as a Celery broker URL:
    made with ``rabbitmqctl`` (the server runs on this machine), deleted afterwards."""
    import subprocess

    vhost = f"grader-test-{uuid.uuid4().hex}"
    user = make_url(RABBITMQ_URL.replace("amqp://", "postgresql://", 1)).username or "guest"
    try:
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True, timeout=60)
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.fail(f"cannot make a RabbitMQ virtual host with rabbitmqctl ({exc}); start RabbitMQ (CI does).", pytrace=False)
    try:
        yield f"{RABBITMQ_URL}/{vhost}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True, timeout=60)


@pytest.fixture(params=["redis", "rabbitmq"])
def any_broker(request: pytest.FixtureRequest) -> str:
    """Each broker a department may run: a Redis database, then a RabbitMQ virtual host."""
    return str(request.getfixturevalue("broker" if request.param == "redis" else "rabbitmq"))
