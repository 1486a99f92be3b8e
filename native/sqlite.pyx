# cython: language_level=3
"""The few parts of libsqlite3 that the image index uses.

Why not the standard library's sqlite3: its C module imports functools and collections
when it loads (for its statement cache). On the machines we measure that costs about
10 ms on every rkt command, a sixth of a whole ``rkt run``. This module costs well
under 1 ms.

It has only what ``rktfast.store.index`` needs:
- a connection in autocommit mode (the index issues its own ``BEGIN IMMEDIATE``);
- ``execute`` with ``?`` parameters, which returns all rows as a list of tuples;
- ``executescript``;
- the ``with connection:`` block, which commits on success and rolls back on error.

Errors raise ``OperationalError``, ``IntegrityError`` or ``DatabaseError``. All three
subclass ``Error``, as in the standard module. The GIL is released while SQLite works,
so a busy wait on the lock does not stop the other threads.
"""

from libc.stdint cimport int64_t


cdef extern from "<sqlite3.h>" nogil:
    ctypedef struct sqlite3
    ctypedef struct sqlite3_stmt
    ctypedef void (*sqlite3_destructor_type)(void *)
    sqlite3_destructor_type SQLITE_TRANSIENT

    int SQLITE_OK, SQLITE_ROW, SQLITE_DONE
    int SQLITE_CONSTRAINT, SQLITE_CORRUPT, SQLITE_NOTADB
    int SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL
    int SQLITE_OPEN_READWRITE, SQLITE_OPEN_CREATE

    int sqlite3_open_v2(const char *path, sqlite3 **db, int flags, const char *vfs)
    int sqlite3_close_v2(sqlite3 *db)
    int sqlite3_busy_timeout(sqlite3 *db, int ms)
    int sqlite3_get_autocommit(sqlite3 *db)
    int sqlite3_exec(sqlite3 *db, const char *sql, void *callback, void *arg, char **err)
    const char *sqlite3_errmsg(sqlite3 *db)
    int sqlite3_errcode(sqlite3 *db)
    const char *sqlite3_errstr(int code)

    int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **stmt,
                           const char **tail)
    int sqlite3_step(sqlite3_stmt *stmt)
    int sqlite3_finalize(sqlite3_stmt *stmt)
    int sqlite3_bind_parameter_count(sqlite3_stmt *stmt)
    int sqlite3_bind_int64(sqlite3_stmt *stmt, int i, int64_t v)
    int sqlite3_bind_double(sqlite3_stmt *stmt, int i, double v)
    int sqlite3_bind_text(sqlite3_stmt *stmt, int i, const char *v, int n,
                          sqlite3_destructor_type d)
    int sqlite3_bind_blob(sqlite3_stmt *stmt, int i, const void *v, int n,
                          sqlite3_destructor_type d)
    int sqlite3_bind_null(sqlite3_stmt *stmt, int i)
    int sqlite3_column_count(sqlite3_stmt *stmt)
    int sqlite3_column_type(sqlite3_stmt *stmt, int i)
    int64_t sqlite3_column_int64(sqlite3_stmt *stmt, int i)
    double sqlite3_column_double(sqlite3_stmt *stmt, int i)
    const unsigned char *sqlite3_column_text(sqlite3_stmt *stmt, int i)
    const void *sqlite3_column_blob(sqlite3_stmt *stmt, int i)
    int sqlite3_column_bytes(sqlite3_stmt *stmt, int i)


class Error(Exception):
    pass


class DatabaseError(Error):
    pass


class OperationalError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


cdef _raise(sqlite3 *db, int code):
    cdef int primary = code & 0xff
    msg = (sqlite3_errmsg(db) if db != NULL else sqlite3_errstr(code)).decode("utf-8", "replace")
    if primary == SQLITE_CONSTRAINT:
        raise IntegrityError(msg)
    if primary == SQLITE_CORRUPT or primary == SQLITE_NOTADB:
        raise DatabaseError(msg)
    raise OperationalError(msg)


cdef int _bind(sqlite3_stmt *stmt, int i, object v) except -1:
    cdef bytes b
    if v is None:
        return sqlite3_bind_null(stmt, i)
    if isinstance(v, int):  # bool too
        return sqlite3_bind_int64(stmt, i, v)
    if isinstance(v, float):
        return sqlite3_bind_double(stmt, i, v)
    if isinstance(v, str):
        b = (<str> v).encode("utf-8")
        return sqlite3_bind_text(stmt, i, b, len(b), SQLITE_TRANSIENT)
    if isinstance(v, bytes):
        return sqlite3_bind_blob(stmt, i, <const char *> (<bytes> v), len(v), SQLITE_TRANSIENT)
    raise TypeError(f"cannot store a {type(v).__name__} in the index")


cdef object _column(sqlite3_stmt *stmt, int i):
    cdef int kind = sqlite3_column_type(stmt, i)
    cdef const char *p
    if kind == SQLITE_INTEGER:
        return sqlite3_column_int64(stmt, i)
    if kind == SQLITE_NULL:
        return None
    if kind == SQLITE_FLOAT:
        return sqlite3_column_double(stmt, i)
    if kind == SQLITE_TEXT:
        p = <const char *> sqlite3_column_text(stmt, i)
        return p[:sqlite3_column_bytes(stmt, i)].decode("utf-8", "replace")
    p = <const char *> sqlite3_column_blob(stmt, i)
    if p == NULL:
        return b""
    return p[:sqlite3_column_bytes(stmt, i)]


cdef class Connection:
    """One connection to a database file, in autocommit mode."""

    cdef sqlite3 *db

    def __cinit__(self, path, int timeout_ms=60000):
        cdef bytes b_path = path.encode()
        cdef const char *c_path = b_path
        cdef int r
        with nogil:
            r = sqlite3_open_v2(c_path, &self.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                NULL)
        if r != SQLITE_OK:
            try:
                _raise(self.db, r)
            finally:
                sqlite3_close_v2(self.db)
                self.db = NULL
        sqlite3_busy_timeout(self.db, timeout_ms)

    def __dealloc__(self):
        if self.db != NULL:
            sqlite3_close_v2(self.db)

    cdef sqlite3 *_open(self) except NULL:
        if self.db == NULL:
            raise OperationalError("the database connection is closed")
        return self.db

    def execute(self, str sql, tuple params=()):
        """Run one statement; all its rows as a list of tuples."""
        cdef sqlite3 *db = self._open()
        cdef bytes b_sql = sql.encode("utf-8")
        cdef const char *c_sql = b_sql
        cdef const char *tail = NULL
        cdef sqlite3_stmt *stmt = NULL
        cdef int r, i, ncols
        with nogil:
            r = sqlite3_prepare_v2(db, c_sql, -1, &stmt, &tail)
        if r != SQLITE_OK:
            _raise(db, r)
        if stmt == NULL:
            raise Error("no SQL statement to run")
        rows = []
        try:
            if tail != NULL and tail[0] != 0 and tail.strip():
                raise Error("only one statement can be run at a time")
            if sqlite3_bind_parameter_count(stmt) != len(params):
                raise Error(f"the statement takes {sqlite3_bind_parameter_count(stmt)} "
                            f"parameters, {len(params)} given")
            for i in range(len(params)):
                r = _bind(stmt, i + 1, params[i])
                if r != SQLITE_OK:
                    _raise(db, r)
            ncols = sqlite3_column_count(stmt)
            while True:
                with nogil:
                    r = sqlite3_step(stmt)
                if r == SQLITE_DONE:
                    break
                if r != SQLITE_ROW:
                    _raise(db, r)
                rows.append(tuple([_column(stmt, i) for i in range(ncols)]))
        finally:
            sqlite3_finalize(stmt)
        return rows

    def set_busy_timeout(self, int timeout_ms):
        """How long a statement waits for another connection's lock before it fails."""
        sqlite3_busy_timeout(self._open(), timeout_ms)

    def executescript(self, str sql):
        """Run several statements (no parameters, no rows)."""
        cdef sqlite3 *db = self._open()
        cdef bytes b_sql = sql.encode("utf-8")
        cdef const char *c_sql = b_sql
        cdef int r
        with nogil:
            r = sqlite3_exec(db, c_sql, NULL, NULL, NULL)
        if r != SQLITE_OK:
            _raise(db, r)

    @property
    def in_transaction(self):
        return sqlite3_get_autocommit(self._open()) == 0

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        """Commit what the block began; roll it back if the block raised."""
        if self.db == NULL or sqlite3_get_autocommit(self.db):
            return False
        if kind is None:
            self.executescript("COMMIT")
        else:
            try:
                self.executescript("ROLLBACK")
            except Error:
                pass  # the block's own error is the one to report
        return False

    def close(self):
        cdef int r
        if self.db == NULL:
            return
        with nogil:
            r = sqlite3_close_v2(self.db)
        self.db = NULL
        if r != SQLITE_OK:
            raise OperationalError(sqlite3_errstr(r).decode())
