"""Schema migrations of the alert store, applied in order when a store opens.

Each migration is a numbered list of plain SQL statements that SQLite and PostgreSQL both
accept (BIGINT for epoch milliseconds, JSON kept as TEXT, no rowid/AUTOINCREMENT/OR REPLACE),
so a PostgreSQL backend can run the same list. A migration is never edited once released:
a schema change is a new entry at the end.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from dianyan.errors import DianyanError


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
        applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        known = {m.version for m in migrations}
        unknown = sorted(applied - known)
        if unknown:
            raise DianyanError(
                f"the alert store has schema version(s) {unknown} that this dianyan does not "
                f"know (it knows up to {max(known)}); upgrade dianyan or use another --db."
            )
        todo = sorted((m for m in migrations if m.version not in applied), key=_version)
        for migration in todo:
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)",
                (migration.version, migration.name, int(time.time() * 1000)),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(todo)


def _version(migration: Migration) -> int:
    return migration.version
