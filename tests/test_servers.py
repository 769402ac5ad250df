"""The private servers of tests/servers.py: they stop, start, restart and die as asked, and leave
nothing behind."""

from __future__ import annotations

import stat
from pathlib import Path

import psycopg
import pytest
import redis
from servers import private_postgres, private_redis


def test_a_private_redis_stops_dies_and_comes_back_on_its_port(tmp_path: Path) -> None:
    with private_redis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        server.kill()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        server.start()
        assert client.ping() and client.get("k") is None  # no persistence: it starts empty
        server.restart()
        assert client.ping()
        client.close()
        process = server.process
    assert process is not None and process.returncode is not None
    assert not (tmp_path / "redis").exists()


@pytest.mark.postgres
def test_a_private_postgres_keeps_its_data_through_a_restart_and_a_kill(tmp_path: Path) -> None:
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.parents}

    def query(port: int, sql: str) -> list[tuple[object, ...]]:
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True) as connection:
            cursor = connection.execute(sql)
            return cursor.fetchall() if cursor.description else []

    with private_postgres(tmp_path) as server:
        assert server.url == f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/postgres"
        query(server.port, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
        server.restart()
        held = psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", dbname="postgres")
        server.kill()
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")
        held.close()
        server.start()  # crash recovery
        assert query(server.port, "SELECT x FROM t") == [(1,)]
        server.stop()
        with pytest.raises(psycopg.OperationalError, match="Connection refused"):
            query(server.port, "SELECT 1")
        process = server.process
    assert process is not None and process.returncode is not None
    assert not (tmp_path / "postgres").exists()
    assert {path: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.parents} == modes
