"""Schema migrations of the alert store, applied in order when a store opens.

Each migration is a numbered list of plain SQL statements that SQLite and PostgreSQL both
accept (BIGINT for epoch milliseconds, JSON kept as TEXT, no rowid/AUTOINCREMENT/OR REPLACE),
so both backends run the same list: :func:`migrate` for SQLite, :func:`migrate_postgres`.
A migration is never edited once released: a schema change is a new entry at the end.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dianyan.errors import DianyanError

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


_STATES = "'raised', 'dispatched', 'verified', 'enforcing', 'cleared'"

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "alerts, alert_events, detections",
        (
            f"""CREATE TABLE alerts (
                id TEXT PRIMARY KEY,
                rule TEXT NOT NULL,
                entity_id TEXT NOT NULL,
                county TEXT NOT NULL,
                severity TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ({_STATES})),
                first_seen_ms BIGINT NOT NULL,
                last_seen_ms BIGINT NOT NULL,
                episode_start_ms BIGINT NOT NULL,
                occurrences INTEGER NOT NULL,
                thresholds_version TEXT NOT NULL,
                explanation TEXT NOT NULL,
                evidence TEXT NOT NULL,
                evidence_hash TEXT NOT NULL,
                seq INTEGER NOT NULL,
                created_at BIGINT NOT NULL
            )""",
            "CREATE INDEX alerts_entity_rule_state ON alerts (entity_id, rule, state)",
            "CREATE INDEX alerts_county ON alerts (county)",
            "CREATE INDEX alerts_first_seen ON alerts (first_seen_ms, id)",
            """CREATE TABLE alert_events (
                alert_id TEXT NOT NULL REFERENCES alerts (id),
                seq INTEGER NOT NULL,
                at_ms BIGINT NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                payload TEXT NOT NULL,
                PRIMARY KEY (alert_id, seq)
            )""",
            """CREATE TABLE detections (
                key TEXT PRIMARY KEY,
                rule TEXT NOT NULL,
                entity_id TEXT NOT NULL,
                county TEXT NOT NULL,
                episode_start_ms BIGINT NOT NULL,
                end_ms BIGINT NOT NULL,
                alert_id TEXT REFERENCES alerts (id),
                suppressed_by TEXT,
                applied_at_ms BIGINT NOT NULL,
                payload TEXT NOT NULL,
                CHECK (alert_id IS NULL OR suppressed_by IS NULL)
            )""",
            "CREATE INDEX detections_alert ON detections (alert_id)",
            "CREATE INDEX detections_suppressed ON detections (suppressed_by, end_ms)",
        ),
    ),
    Migration(
        2,
        "lifecycle columns, overdue escalation, exemptions",
        (
            *(
                f"ALTER TABLE alerts ADD COLUMN {column}"
                for column in (
                    "department TEXT",
                    "owner TEXT",
                    "outcome TEXT CHECK (outcome IN ('confirmed', 'explained'))",
                    "reason_code TEXT CHECK (reason_code IN ('commissioning', "
                    "'pre_resumption', 'tariff_night_shift', 'meter_error', 'other'))",
                    "case_number TEXT",
                    "result TEXT",
                    "dispatched_at_ms BIGINT",
                    "claimed_at_ms BIGINT",
                    "verified_at_ms BIGINT",
                    "enforcing_at_ms BIGINT",
                    "cleared_at_ms BIGINT",
                    "escalation_level INTEGER NOT NULL DEFAULT 0 "
                    "CHECK (escalation_level IN (0, 1, 2))",
                    "overdue_since_ms BIGINT",
                    "updated_at_ms BIGINT NOT NULL DEFAULT 0",
                )
            ),
            # Alerts of a version-1 store have only their 'raised' event.
            "UPDATE alerts SET updated_at_ms = created_at",
            "CREATE INDEX alerts_state ON alerts (state, first_seen_ms)",
            "CREATE INDEX alerts_overdue ON alerts (overdue_since_ms)",
            """CREATE TABLE exemptions (
                id TEXT PRIMARY KEY,
                entity_id TEXT,
                region TEXT NOT NULL,
                rules TEXT NOT NULL,
                start_ms BIGINT NOT NULL,
                end_ms BIGINT NOT NULL,
                reason TEXT NOT NULL,
                approver TEXT NOT NULL,
                created_by TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                revoked_at_ms BIGINT,
                revoked_by TEXT,
                CHECK (end_ms > start_ms)
            )""",
            "CREATE INDEX exemptions_period ON exemptions (end_ms, start_ms)",
        ),
    ),
)

_CREATE_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at_ms BIGINT NOT NULL
)"""


def migrate(conn: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply the migrations this database lacks, in order, in one transaction.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Returns how many were
    applied. A database with a newer schema than this code knows is refused.
    """
    conn.execute("BEGIN IMMEDIATE")  # concurrent openers queue here; one of them migrates
    try:
        conn.execute(_CREATE_LEDGER)
        applied = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
        todo = _missing(applied, migrations)
        for migration in todo:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(_RECORD, (migration.version, migration.name, int(time.time() * 1000)))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(todo)


# Any constant: concurrent openers of one PostgreSQL database queue on this lock.
_PG_MIGRATION_LOCK = 0x6469616E79616E


def migrate_postgres(
    conn: psycopg.Connection, migrations: tuple[Migration, ...] = MIGRATIONS
) -> int:
    """Apply the migrations this PostgreSQL schema lacks, in one transaction.

    Tables go to the first schema of the connection's ``search_path``. Returns how many
    were applied; a newer schema is refused as in :func:`migrate`.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_MIGRATION_LOCK,))
        conn.execute(_CREATE_LEDGER)
        applied = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
        todo = _missing(applied, migrations)
        for migration in todo:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                _RECORD.replace("?", "%s"),
                (migration.version, migration.name, int(time.time() * 1000)),
            )
    return len(todo)


_RECORD = "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)"


def _missing(applied: Iterable[int], migrations: tuple[Migration, ...]) -> list[Migration]:
    """The migrations still to apply, in order; refuses a schema newer than ``migrations``."""
    known = {m.version for m in migrations}
    unknown = sorted(set(applied) - known)
    if unknown:
        raise DianyanError(
            f"the alert store has schema version(s) {unknown} that this dianyan does not "
            f"know (it knows up to {max(known)}); upgrade dianyan or use another --db."
        )
    done = set(applied)
    return sorted((m for m in migrations if m.version not in done), key=_version)


def _version(migration: Migration) -> int:
    return migration.version
