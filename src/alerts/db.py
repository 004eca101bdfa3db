"""The thin dialect layer under the alert store: one connection, SQLite or PostgreSQL.

The store's SQL is shared and written with ``?`` placeholders; a backend runs it on its
connection, opens write transactions, and serialises writers on named keys where several
processes may write at once (PostgreSQL advisory locks; SQLite has one writer anyway).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Protocol

import psycopg

from alerts.migrations import migrate, migrate_postgres


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Db(ABC):
    """One connection; not shared between threads (the store locks around it)."""

    for_update = ""  # suffix of a SELECT that locks the rows it reads until commit

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement written with ``?`` placeholders."""

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per parameter row (one round trip where the driver can)."""
        for row in rows:
            self.execute(sql, row)

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction: committed on success, rolled back on any exception."""

    @abstractmethod
    def lock(self, names: Iterable[str]) -> None:
        """Inside a transaction: wait until no other transaction holds any of ``names``."""

    @abstractmethod
    def close(self) -> None: ...


# One lock per database file for the writers of this process: they queue on it instead of
# polling SQLite's busy handler (which sleeps up to 100 ms a try, so the unlucky wait long).
_WRITERS: dict[str, threading.Lock] = {}
_WRITERS_LOCK = threading.Lock()


def _writer_lock(path: str) -> threading.Lock:
    key = path if path == ":memory:" else os.path.realpath(path)
    with _WRITERS_LOCK:
        if path == ":memory:":
            return threading.Lock()  # a private database: nobody else writes to it
        return _WRITERS.setdefault(key, threading.Lock())


class SqliteDb(Db):
    """A SQLite file in WAL mode (or ``:memory:``); ``BEGIN IMMEDIATE`` queues writers."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._writer = _writer_lock(os.fspath(path))
        self.conn = sqlite3.connect(
            os.fspath(path), isolation_level=None, timeout=30.0, check_same_thread=False
        )
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            migrate(self.conn)
        except BaseException:
            self.conn.close()
            raise

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._writer:  # other processes still queue in BEGIN IMMEDIATE's busy wait
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def lock(self, names: Iterable[str]) -> None:
        pass  # BEGIN IMMEDIATE already made this the only writer

    def close(self) -> None:
        self.conn.close()


class PostgresDb(Db):
    """A PostgreSQL connection in autocommit mode; writes run in explicit transactions."""

    for_update = " FOR UPDATE"

    def __init__(self, dsn: str) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        try:
            migrate_postgres(self.conn)
        except BaseException:
            self.conn.close()
            raise

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.conn.execute(_pg_sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(_pg_sql(sql), rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield

    def lock(self, names: Iterable[str]) -> None:
        # Always in the same (sorted) order, so two writers cannot deadlock on these.
        for key in sorted({_lock_key(name) for name in names}):
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))

    def close(self) -> None:
        self.conn.close()


@lru_cache(maxsize=256)
def _pg_sql(sql: str) -> str:
    # The shared SQL has no literal '?' or '%': placeholders are its only use of either.
    return sql.replace("?", "%s")


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
