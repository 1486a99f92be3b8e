"""The store's index: an SQLite database (WAL) in ``cas/db/``.

Tables mirror rkt's (SPEC §3): ``aciinfo`` (one row per image in the store) and ``remote``
(one row per remote URL, for caching). A row is written only after its blob is in place, so a
row always points at a complete blob; a blob without a row is garbage that gc removes.
"""

from __future__ import annotations

import os
import time

from rktfast import _sqlite as sqlite3  # not the stdlib's: see native/sqlite.pyx
from rktfast.errors import StoreError
from rktfast.record import Record

SCHEMA = """
CREATE TABLE IF NOT EXISTS aciinfo (
    blobkey TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    importtime INTEGER NOT NULL,
    lastused INTEGER NOT NULL,
    latest INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    treestoresize INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS aciinfo_name ON aciinfo(name);
CREATE TABLE IF NOT EXISTS remote (
    aciurl TEXT PRIMARY KEY,
    sigurl TEXT,
    etag TEXT,
    blobkey TEXT,
    cachemaxage INTEGER,
    downloadtime INTEGER
);
PRAGMA user_version = 1;
"""

# Migration 2 (additive): the layer cache of Docker/OCI images (rktfast.docker.layers).
# One row per layer blob digest as distributed (usually gzip); the uncompressed tar is stored
# once per diffid under cas/layers/, so two blobs of the same content share one file.
LAYERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS layers (
    digest TEXT PRIMARY KEY,
    diffid TEXT NOT NULL,
    size INTEGER NOT NULL,
    compressedsize INTEGER NOT NULL,
    importtime INTEGER NOT NULL,
    lastused INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS layers_diffid ON layers(diffid);
"""
LAYERS_VERSION = 2

# WAL size past which a process leaving the index open for an exec empties it first
# (rebuilding the WAL index costs about 1 ms per 1.2 MB; 64 pages of 4 KiB here).
WAL_LIMIT = 256 * 1024


class ImageInfo(Record):
    # import_time and last_used: ns since the epoch
    __slots__ = ("key", "name", "import_time", "last_used", "latest", "size", "tree_size")


class RemoteInfo(Record):
    __slots__ = ("aci_url", "sig_url", "etag", "key", "cache_max_age", "download_time")


def now_ns() -> int:
    return time.time_ns()


def _one(rows: list[tuple]) -> tuple | None:
    return rows[0] if rows else None


def _use_wal(db) -> None:
    """Put the database in WAL mode (a no-op once it is). Two connections switching a new
    database at once can get "database is locked" at once, not after the busy timeout
    (SQLite refuses to wait where waiting could deadlock): a fresh store opened by parallel
    rkt commands. The one that lost retries."""
    for attempt in range(400):  # ~2 s
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or attempt == 399:
                raise
            time.sleep(0.005)


class Index:
    """A connection to the index; every method is one short transaction."""

    def __init__(self, db_dir: str):
        os.makedirs(db_dir, mode=0o700, exist_ok=True)
        path = self.path = os.path.join(db_dir, "index.sqlite3")
        try:
            self.db = sqlite3.Connection(path, 60_000)
            _use_wal(self.db)
            self.db.execute("PRAGMA synchronous=FULL")
            version = self.db.execute("PRAGMA user_version")[0][0]
            if version < 1:
                with self.db:  # the schema appears whole (CREATE ... IF NOT EXISTS: racers agree)
                    self.db.execute("BEGIN IMMEDIATE")
                    self.db.executescript(SCHEMA)
            if version < LAYERS_VERSION:  # set only once the layers table exists
                self._migrate_layers()
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the store index {path!r}", e) from e

    def _migrate_layers(self) -> None:
        """Add the ``layers`` table to an index that lacks it (idempotent, concurrent-safe)."""
        if self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                           "name = 'layers'"):
            return
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executescript(LAYERS_SCHEMA)
            if self.db.execute("PRAGMA user_version")[0][0] < LAYERS_VERSION:
                self.db.execute(f"PRAGMA user_version = {LAYERS_VERSION}")

    def close(self) -> None:
        self.db.close()

    def leave_open_for_exec(self) -> None:
        """This process is about to exec (rkt run's stage1) with the connection still open,
        to skip the checkpoint that closing the last connection does (fsyncs). Nothing
        checkpoints then, and every later process rebuilds its WAL index by reading the
        whole WAL, which runs alone would grow without end (a checkpoint by a process
        that did not restart the WAL itself does not shrink it). So once the WAL passes
        WAL_LIMIT, empty it here, waiting briefly for other connections; if they are
        busy, a later run does it."""
        try:
            if os.stat(self.path + "-wal").st_size <= WAL_LIMIT:
                return
            self.db.set_busy_timeout(50)
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except (OSError, sqlite3.Error):
            pass

    def _rows(self, sql: str, args: tuple = ()) -> list[ImageInfo]:
        return [ImageInfo(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6])
                for r in self.db.execute(sql, args)]

    def all_images(self) -> list[ImageInfo]:
        return self._rows("SELECT * FROM aciinfo ORDER BY importtime")

    def get(self, key: str) -> ImageInfo | None:
        rows = self._rows("SELECT * FROM aciinfo WHERE blobkey = ?", (key,))
        return rows[0] if rows else None

    def by_name(self, name: str) -> list[ImageInfo]:
        return self._rows("SELECT * FROM aciinfo WHERE name = ? ORDER BY importtime DESC", (name,))

    def keys_with_prefix(self, prefix: str) -> list[str]:
        esc = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return [r[0] for r in self.db.execute(
            "SELECT blobkey FROM aciinfo WHERE blobkey LIKE ? ESCAPE '\\'", (esc + "%",))]

    def put(self, info: ImageInfo) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            old = _one(self.db.execute("SELECT importtime FROM aciinfo WHERE blobkey = ?",
                                       (info.key,)))
            if old:  # re-import keeps the first import time, like rkt
                info.import_time = old[0]
            self.db.execute(
                "INSERT OR REPLACE INTO aciinfo VALUES (?, ?, ?, ?, ?, ?, ?)",
                (info.key, info.name, info.import_time, info.last_used, int(info.latest),
                 info.size, info.tree_size))

    def touch(self, key: str) -> None:
        """Bump ``lastused``. Not worth an fsync of the WAL on every ``rkt run``: after a
        power loss the row keeps an older time, which only makes image gc a bit keener."""
        self.db.execute("PRAGMA synchronous=NORMAL")
        try:
            with self.db:
                self.db.execute("UPDATE aciinfo SET lastused = ? WHERE blobkey = ?",
                                (now_ns(), key))
        finally:
            self.db.execute("PRAGMA synchronous=FULL")

    def set_tree_size(self, key: str, size: int) -> None:
        with self.db:
            self.db.execute("UPDATE aciinfo SET treestoresize = ? WHERE blobkey = ?", (size, key))

    def remove(self, key: str) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM aciinfo WHERE blobkey = ?", (key,))
            self.db.execute("DELETE FROM remote WHERE blobkey = ?", (key,))

    def get_remote(self, url: str) -> RemoteInfo | None:
        r = _one(self.db.execute("SELECT * FROM remote WHERE aciurl = ?", (url,)))
        return RemoteInfo(*r) if r else None

    def put_remote(self, info: RemoteInfo) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO remote VALUES (?, ?, ?, ?, ?, ?)",
                            (info.aci_url, info.sig_url, info.etag, info.key,
                             info.cache_max_age, info.download_time))


class LayerInfo(Record):
    """A cached Docker/OCI layer (see LAYERS_SCHEMA)."""

    __slots__ = ("digest", "diff_id", "size", "compressed_size", "import_time", "last_used")


def _layer_rows(db: sqlite3.Connection, sql: str, args: tuple = ()) -> list[LayerInfo]:
    return [LayerInfo(*r) for r in db.execute(sql, args)]


def get_layer(index: Index, digest: str) -> LayerInfo | None:
    rows = _layer_rows(index.db, "SELECT * FROM layers WHERE digest = ?", (digest,))
    return rows[0] if rows else None


def layers_with_diff_id(index: Index, diff_id: str) -> list[LayerInfo]:
    return _layer_rows(index.db, "SELECT * FROM layers WHERE diffid = ?", (diff_id,))


def all_layers(index: Index) -> list[LayerInfo]:
    return _layer_rows(index.db, "SELECT * FROM layers ORDER BY importtime")


def put_layer(index: Index, info: LayerInfo) -> None:
    with index.db:
        index.db.execute("INSERT OR REPLACE INTO layers VALUES (?, ?, ?, ?, ?, ?)",
                         (info.digest, info.diff_id, info.size, info.compressed_size,
                          info.import_time, info.last_used))


def touch_layers(index: Index, diff_ids: list[str]) -> None:
    t = now_ns()
    with index.db:
        index.db.execute("BEGIN IMMEDIATE")  # one commit for all of them
        for d in diff_ids:
            index.db.execute("UPDATE layers SET lastused = ? WHERE diffid = ?", (t, d))


def remove_layers(index: Index, diff_id: str) -> None:
    with index.db:
        index.db.execute("DELETE FROM layers WHERE diffid = ?", (diff_id,))
