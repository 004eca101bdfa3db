"""Users, their API tokens and web sessions, kept beside the alerts in the same database.

A token is shown once, when the user is added: ``dy_<key>_<secret>``. The database keeps
only the key (to find the row) and the sha256 of the secret, compared in constant time,
so a copy of the database does not let anyone in. A web login exchanges a token for a
session cookie (stored hashed the same way) that expires on its own; revoking a user ends
their sessions at once.

Tables ``feed_users`` and ``feed_sessions`` are created when missing, with SQL that SQLite
and PostgreSQL both accept.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from alerts.access import AuthenticationError, Role, User, check_role
from alerts.region import check_region
from dianyan.errors import DianyanError

SESSION_TTL_MS = 12 * 3600 * 1000
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@\-\u4e00-\u9fff]{1,64}$")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS feed_users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('inspector', 'tech_office', 'admin')),
        region TEXT NOT NULL,
        token_key TEXT NOT NULL UNIQUE,
        token_hash TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        revoked_at_ms BIGINT
    )""",
    """CREATE TABLE IF NOT EXISTS feed_sessions (
        key TEXT PRIMARY KEY,
        secret_hash TEXT NOT NULL,
        user_name TEXT NOT NULL REFERENCES feed_users (name),
        csrf TEXT NOT NULL,
        expires_at_ms BIGINT NOT NULL
    )""",
)


class UserError(DianyanError):
    """A user cannot be added or revoked as asked."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as ``dianyan users list`` shows it (never the token)."""

    name: str
    role: Role
    region: str
    created_at_ms: int
    revoked_at_ms: int | None

    @property
    def active(self) -> bool:
        return self.revoked_at_ms is None


@dataclass(frozen=True, slots=True)
class Session:
    """A web session: the cookie value (shown once) and its CSRF token for forms."""

    cookie: str
    csrf: str
    user: User


class _Connection(Protocol):
    def execute(self, sql: str, params: Any = ...) -> Any: ...
    def close(self) -> None: ...


class UserStore:
    """Users and sessions over one DB-API connection in autocommit mode."""

    def __init__(self, conn: _Connection, placeholder: str = "?") -> None:
        self._conn = conn
        self._ph = placeholder
        for statement in _SCHEMA:
            self._conn.execute(statement)

    @classmethod
    def sqlite(cls, path: str | os.PathLike[str]) -> UserStore:
        """Users in an SQLite file (normally the alert store's own)."""
        # One thread at a time uses it, but it may close on another (the feed's shutdown).
        conn = sqlite3.connect(
            os.fspath(path), isolation_level=None, timeout=30.0, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        return cls(conn)

    @classmethod
    def postgres(cls, dsn: str) -> UserStore:
        """Users in a PostgreSQL database (needs the psycopg package)."""
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise UserError("PostgreSQL needs psycopg; pip install 'psycopg[binary]'.") from exc
        return cls(psycopg.connect(dsn, autocommit=True), placeholder="%s")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> UserStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- users ---------------------------------------------------------------------------

    def add(self, name: str, role: Role | str, region: str, now_ms: int | None = None) -> str:
        """Add (or re-add a revoked) user; return their token, which is never stored."""
        if not NAME_PATTERN.match(name):
            raise UserError(
                f"user name {name!r} is not allowed; use 1-64 letters, digits, Chinese "
                "characters or . _ - @"
            )
        try:
            role, region = check_role(str(role)), check_region(region)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        existing = self._row("SELECT revoked_at_ms FROM feed_users WHERE name = ?", name)
        if existing is not None and existing[0] is None:
            raise UserError(f"user {name} exists; revoke them first to issue a new token.")
        key, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        if existing is not None:
            self._exec("DELETE FROM feed_sessions WHERE user_name = ?", name)
            self._exec("DELETE FROM feed_users WHERE name = ?", name)
        self._exec(
            "INSERT INTO feed_users (name, role, region, token_key, token_hash, created_at_ms, "
            "revoked_at_ms) VALUES (?, ?, ?, ?, ?, ?, NULL)",
            name,
            role.value,
            region,
            key,
            _digest(secret),
            _now(now_ms),
        )
        return f"dy_{key}_{secret}"

    def list_users(self) -> list[UserRecord]:
        rows = self._conn.execute(
            "SELECT name, role, region, created_at_ms, revoked_at_ms FROM feed_users ORDER BY name"
        ).fetchall()
        return [UserRecord(n, Role(r), g, c, v) for n, r, g, c, v in rows]

    def revoke(self, name: str, now_ms: int | None = None) -> None:
        """Revoke the user's token and end their sessions; their audit entries stay."""
        row = self._row("SELECT revoked_at_ms FROM feed_users WHERE name = ?", name)
        if row is None or row[0] is not None:
            raise UserError(f"no active user {name}; see `dianyan users list`.")
        self._exec("UPDATE feed_users SET revoked_at_ms = ? WHERE name = ?", _now(now_ms), name)
        self._exec("DELETE FROM feed_sessions WHERE user_name = ?", name)

    def authenticate(self, token: str) -> User:
        """The active user this API token belongs to, or AuthenticationError."""
        key, secret = _split(token, "dy")
        row = self._row(
            "SELECT name, role, region, token_hash FROM feed_users "
            "WHERE token_key = ? AND revoked_at_ms IS NULL",
            key,
        )
        if row is None or not hmac.compare_digest(row[3], _digest(secret)):
            raise AuthenticationError("unknown or revoked token; ask an admin for a new one.")
        return User(row[0], Role(row[1]), row[2])

    # -- web sessions --------------------------------------------------------------------

    def login(self, token: str, now_ms: int | None = None) -> Session:
        """Exchange an API token for a web session."""
        user = self.authenticate(token)
        now = _now(now_ms)
        self._exec("DELETE FROM feed_sessions WHERE expires_at_ms <= ?", now)
        key, secret, csrf = secrets.token_hex(8), secrets.token_urlsafe(32), secrets.token_hex(16)
        self._exec(
            "INSERT INTO feed_sessions (key, secret_hash, user_name, csrf, expires_at_ms) "
            "VALUES (?, ?, ?, ?, ?)",
            key,
            _digest(secret),
            user.name,
            csrf,
            now + SESSION_TTL_MS,
        )
        return Session(f"s_{key}_{secret}", csrf, user)

    def session(self, cookie: str, now_ms: int | None = None) -> Session:
        """The live session behind a cookie value, or AuthenticationError."""
        key, secret = _split(cookie, "s")
        row = self._row(
            "SELECT s.secret_hash, s.csrf, u.name, u.role, u.region FROM feed_sessions s "
            "JOIN feed_users u ON u.name = s.user_name "
            "WHERE s.key = ? AND s.expires_at_ms > ? AND u.revoked_at_ms IS NULL",
            key,
            _now(now_ms),
        )
        if row is None or not hmac.compare_digest(row[0], _digest(secret)):
            raise AuthenticationError("your session has ended; log in again with your token.")
        return Session(cookie, row[1], User(row[2], Role(row[3]), row[4]))

    def logout(self, cookie: str) -> None:
        try:
            key, _ = _split(cookie, "s")
        except AuthenticationError:
            return
        self._exec("DELETE FROM feed_sessions WHERE key = ?", key)

    # -- helpers -------------------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return sql if self._ph == "?" else sql.replace("?", self._ph)

    def _exec(self, sql: str, *params: Any) -> None:
        self._conn.execute(self._sql(sql), params)

    def _row(self, sql: str, *params: Any) -> tuple[Any, ...] | None:
        return self._conn.execute(self._sql(sql), params).fetchone()


def _split(credential: str, prefix: str) -> tuple[str, str]:
    parts = credential.split("_", 2) if isinstance(credential, str) else []
    if len(parts) != 3 or parts[0] != prefix or not parts[1] or not parts[2]:
        raise AuthenticationError(
            "malformed credential; a token looks like dy_<key>_<secret> as printed by "
            "`dianyan users add`."
        )
    return parts[1], parts[2]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _now(now_ms: int | None) -> int:
    return int(time.time() * 1000) if now_ms is None else now_ms
