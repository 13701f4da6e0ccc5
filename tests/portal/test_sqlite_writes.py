"""One writer at a time on the embedded database, waited for as a greenlet
(portal/sqlite_writes.py)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from portal import sqlite_writes
from portal.sqlite_writes import WriteSerializedConnection, writes

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM users", False),
        ("  select 1", False),
        ("PRAGMA foreign_keys=ON", False),
        ("SAVEPOINT sa_savepoint_1", False),
        ("RELEASE SAVEPOINT sa_savepoint_1", False),
        ("ROLLBACK", False),
        ("WITH t AS (SELECT 1) SELECT * FROM t", False),
        ("INSERT INTO users (email) VALUES (?)", True),
        ("UPDATE users SET email = ?", True),
        ("DELETE FROM users", True),
        ("REPLACE INTO users (id) VALUES (1)", True),
        ("CREATE TABLE t (x)", True),
        ("WITH t AS (SELECT 1) INSERT INTO u SELECT * FROM t", True),
    ],
)
def test_statements_that_write_take_the_lock(sql: str, expected: bool) -> None:
    assert writes(sql) is expected


def _connect(path: Path) -> WriteSerializedConnection:
    connection = sqlite3.connect(path, factory=WriteSerializedConnection, timeout=5)
    assert isinstance(connection, WriteSerializedConnection)
    return connection


def test_the_lock_is_held_from_the_first_write_to_the_end_of_the_transaction(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    first = _connect(path)
    first.execute("CREATE TABLE t (x)")  # autocommit DDL: given back at once
    first.commit()
    assert first._lock.acquire(blocking=False)
    first._lock.release()

    first.execute("SELECT * FROM t").fetchall()  # a read takes nothing
    assert not first._holds
    first.execute("INSERT INTO t VALUES (1)")
    assert first._holds
    assert not first._lock.acquire(blocking=False)

    # A second writer in another thread waits for the commit, then writes.
    done: list[float] = []

    def second_writer() -> None:
        second = _connect(path)
        second.execute("INSERT INTO t VALUES (2)")
        second.commit()
        done.append(time.monotonic())
        second.close()

    thread = threading.Thread(target=second_writer)
    thread.start()
    time.sleep(0.2)
    assert not done, "the second writer wrote while the first held its transaction"
    committed = time.monotonic()
    first.commit()
    thread.join(5)
    assert done and done[0] >= committed
    assert not first._holds
    assert [row[0] for row in first.execute("SELECT x FROM t ORDER BY x")] == [1, 2]

    first.execute("INSERT INTO t VALUES (3)")
    first.rollback()  # a rollback gives it back too
    assert not first._holds
    first.execute("INSERT INTO t VALUES (4)")
    first.close()  # and so does closing
    assert first._lock.acquire(blocking=False)
    first._lock.release()


def test_each_database_file_has_its_own_lock(tmp_path: Path) -> None:
    one, same, other = (
        _connect(tmp_path / "a.db"),
        _connect(tmp_path / "a.db"),
        _connect(tmp_path / "b.db"),
    )
    assert one._lock is same._lock is sqlite_writes.lock_for(f"file:{tmp_path / 'a.db'}?mode=rw")
    assert one._lock is not other._lock
    memory = sqlite3.connect(":memory:", factory=WriteSerializedConnection)
    assert memory._lock is not sqlite3.connect(":memory:", factory=WriteSerializedConnection)._lock
    one.execute("CREATE TABLE t (x)")
    other.execute("CREATE TABLE t (x)")
    one.execute("INSERT INTO t VALUES (1)")
    other.execute("INSERT INTO t VALUES (1)")  # another file: no wait
    assert one._holds and other._holds
    one.commit()
    other.commit()


def test_the_portal_opens_its_sqlite_connections_through_it(app) -> None:
    from portal.extensions import db

    if db.engine.dialect.name != "sqlite":
        pytest.skip("the lock is for the embedded database only")
    with db.engine.connect() as connection:
        assert isinstance(connection.connection.dbapi_connection, WriteSerializedConnection)


def test_greenlets_wait_for_a_writer_that_paused_inside_its_transaction(tmp_path: Path) -> None:
    """Under gevent (``python wsgi.py``) a writer that yields inside its transaction (I/O) no
    longer freezes the process: the next writer waits as a greenlet and both succeed."""
    script = textwrap.dedent(
        """
        from gevent import monkey
        monkey.patch_all()
        import sqlite3, sys, time
        import gevent
        sys.path.insert(0, sys.argv[1])
        from portal.sqlite_writes import WriteSerializedConnection

        path = sys.argv[2]
        setup = sqlite3.connect(path, factory=WriteSerializedConnection)
        setup.execute("CREATE TABLE t (x)")
        setup.commit()
        setup.close()
        ticks = []

        def slow_writer():
            c = sqlite3.connect(path, factory=WriteSerializedConnection, timeout=2)
            c.execute("INSERT INTO t VALUES (1)")
            gevent.sleep(0.5)  # I/O inside the transaction: other greenlets run
            c.commit()

        def second_writer():
            gevent.sleep(0.1)
            c = sqlite3.connect(path, factory=WriteSerializedConnection, timeout=2)
            c.execute("INSERT INTO t VALUES (2)")
            c.commit()

        def ticker():
            for _ in range(10):
                ticks.append(time.monotonic())
                gevent.sleep(0.05)

        started = time.monotonic()
        gevent.joinall([gevent.spawn(slow_writer), gevent.spawn(second_writer),
                        gevent.spawn(ticker)], raise_error=True)
        gaps = [b - a for a, b in zip(ticks, ticks[1:])]
        rows = sqlite3.connect(path).execute("SELECT count(*) FROM t").fetchone()[0]
        print(rows, round(max(gaps), 3), round(time.monotonic() - started, 3))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(ROOT), str(tmp_path / "g.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows, longest_gap, elapsed = result.stdout.split()
    assert int(rows) == 2
    assert float(longest_gap) < 0.3, "the process froze while a writer waited"
    assert float(elapsed) < 1.5
