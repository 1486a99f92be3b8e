"""rktfast._sqlite, the libsqlite3 binding under the image index: values, transactions,
errors and lock waits behave as the index relies on."""

import os
import sqlite3 as stdlib_sqlite3
import threading
import time

import pytest

from rktfast import _sqlite


@pytest.fixture
def db(tmp_path):
    c = _sqlite.Connection(str(tmp_path / "t.db"), 2000)
    c.execute("PRAGMA journal_mode=WAL")
    c.executescript("CREATE TABLE t (k TEXT PRIMARY KEY, i INTEGER, f REAL, b BLOB);")
    yield c
    c.close()


def test_values_round_trip(db):
    rows = [("é/ü", 2**63 - 1, 0.25, b"\0\xff"), ("n", None, None, None), ("", -1, 0.0, b"")]
    for r in rows:
        db.execute("INSERT INTO t VALUES (?, ?, ?, ?)", r)
    assert db.execute("SELECT * FROM t ORDER BY i") == [rows[1], rows[2], rows[0]]  # NULL first
    assert db.execute("SELECT k FROM t WHERE k = ?", ("missing",)) == []
    assert db.execute("SELECT ?", (True,)) == [(1,)]


def test_the_stdlib_reads_what_we_wrote(db, tmp_path):
    db.execute("INSERT INTO t VALUES (?, ?, ?, ?)", ("k", 7, 1.5, b"x"))
    other = stdlib_sqlite3.connect(str(tmp_path / "t.db"))
    assert other.execute("SELECT * FROM t").fetchall() == [("k", 7, 1.5, b"x")]
    other.close()


def test_with_block_commits_or_rolls_back(db):
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (k) VALUES (?)", ("a",))
        assert db.in_transaction
    assert not db.in_transaction
    with pytest.raises(KeyError):
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM t")
            raise KeyError
    assert not db.in_transaction
    assert db.execute("SELECT k FROM t") == [("a",)]


def test_errors_have_the_stdlib_classes(db, tmp_path):
    db.execute("INSERT INTO t (k) VALUES ('a')")
    with pytest.raises(_sqlite.IntegrityError, match="UNIQUE"):
        db.execute("INSERT INTO t (k) VALUES ('a')")
    with pytest.raises(_sqlite.OperationalError, match="syntax error"):
        db.execute("SELEC 1")
    with pytest.raises(_sqlite.Error, match="one statement"):
        db.execute("SELECT 1; DELETE FROM t")
    assert db.execute("SELECT count(*) FROM t") == [(1,)]
    with pytest.raises(_sqlite.Error, match="takes 1 parameters, 0 given"):
        db.execute("SELECT ?")
    with pytest.raises(TypeError):
        db.execute("SELECT ?", (object(),))
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database" * 512)
    with pytest.raises(_sqlite.DatabaseError, match="not a database"):
        _sqlite.Connection(str(bad)).execute("SELECT * FROM sqlite_master")
    with pytest.raises(_sqlite.OperationalError, match="unable to open"):
        _sqlite.Connection(str(tmp_path / "no" / "such" / "dir.db"))
    assert issubclass(_sqlite.OperationalError, _sqlite.Error)


def test_closed_connection_refuses_work(tmp_path):
    c = _sqlite.Connection(str(tmp_path / "c.db"))
    c.close()
    c.close()  # twice is fine
    with pytest.raises(_sqlite.OperationalError, match="closed"):
        c.execute("SELECT 1")


def test_a_locked_database_is_waited_for_without_holding_the_gil(db, tmp_path):
    holder = _sqlite.Connection(str(tmp_path / "t.db"), 0)
    holder.execute("BEGIN IMMEDIATE")
    ticks = []
    stop = threading.Event()

    def tick():  # runs only if the waiting thread released the GIL
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    def release_later():
        time.sleep(0.3)
        holder.execute("ROLLBACK")

    t1, t2 = threading.Thread(target=tick), threading.Thread(target=release_later)
    t1.start()
    t2.start()
    start = time.monotonic()
    db.execute("BEGIN IMMEDIATE")  # waits (busy timeout 2 s) until the holder lets go
    waited = time.monotonic() - start
    db.execute("ROLLBACK")
    stop.set()
    t1.join()
    t2.join()
    holder.close()
    assert 0.2 < waited < 1.9
    assert len([t for t in ticks if start < t < start + waited]) >= 5


def test_a_lock_held_past_the_timeout_is_an_operational_error(tmp_path):
    path = str(tmp_path / "l.db")
    holder = _sqlite.Connection(path)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")
    waiter = _sqlite.Connection(path, 100)
    with pytest.raises(_sqlite.OperationalError, match="locked"):
        waiter.execute("BEGIN IMMEDIATE")
    holder.close()
    waiter.close()
    assert os.path.exists(path)
