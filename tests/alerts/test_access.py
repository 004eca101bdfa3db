"""Users, tokens, sessions and jurisdictions: who gets in and what they see."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.access import (
    AuthenticationError,
    Permission,
    PermissionDenied,
    Role,
    User,
    may,
    may_act,
    require,
    scope_region,
)
from alerts.users import SESSION_TTL_MS, UserError, UserStore
from dianyan.cli import main

NOW = 1_750_000_000_000


@pytest.fixture
def users(tmp_path: Path) -> Iterator[UserStore]:
    with UserStore.sqlite(tmp_path / "alerts.sqlite") as store:
        yield store


def test_a_token_lets_its_user_in_and_is_stored_only_as_a_hash(
    users: UserStore, tmp_path: Path
) -> None:
    token = users.add("zhang", "inspector", "370481", now_ms=NOW)
    assert users.authenticate(token) == User("zhang", Role.INSPECTOR, "370481")
    secret = token.split("_", 2)[2]
    raw = (tmp_path / "alerts.sqlite").read_bytes()
    wal = tmp_path / "alerts.sqlite-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    assert secret.encode() not in raw


@pytest.mark.parametrize(
    "bad",
    ["", "Bearer", "dy_", "dy_abc", "xx_abc_def", "dy_0000000000000000_wrongsecret"],
)
def test_malformed_or_unknown_tokens_are_refused(users: UserStore, bad: str) -> None:
    users.add("zhang", "inspector", "370481")
    with pytest.raises(AuthenticationError):
        users.authenticate(bad)


def test_a_wrong_secret_for_a_real_key_is_refused(users: UserStore) -> None:
    token = users.add("zhang", "inspector", "370481")
    key = token.split("_", 2)[1]
    with pytest.raises(AuthenticationError):
        users.authenticate(f"dy_{key}_{'x' * 43}")


def test_revoking_ends_the_token_and_the_sessions(users: UserStore) -> None:
    token = users.add("zhang", "inspector", "370481")
    session = users.login(token, now_ms=NOW)
    assert users.session(session.cookie, now_ms=NOW).user.name == "zhang"
    users.revoke("zhang", now_ms=NOW)
    with pytest.raises(AuthenticationError):
        users.authenticate(token)
    with pytest.raises(AuthenticationError):
        users.session(session.cookie, now_ms=NOW)
    assert not users.list_users()[0].active


def test_a_revoked_user_can_be_given_a_new_token_and_the_old_one_stays_dead(
    users: UserStore,
) -> None:
    old = users.add("zhang", "inspector", "370481")
    with pytest.raises(UserError, match="exists"):
        users.add("zhang", "inspector", "370481")
    users.revoke("zhang")
    new = users.add("zhang", "tech_office", "3704")
    assert users.authenticate(new).role is Role.TECH_OFFICE
    with pytest.raises(AuthenticationError):
        users.authenticate(old)


def test_sessions_expire(users: UserStore) -> None:
    session = users.login(users.add("zhang", "inspector", "370481"), now_ms=NOW)
    with pytest.raises(AuthenticationError, match="log in again"):
        users.session(session.cookie, now_ms=NOW + SESSION_TTL_MS)


@pytest.mark.parametrize(
    ("name", "role", "region", "message"),
    [
        ("a b", "inspector", "37", "not allowed"),
        ("li", "boss", "37", "unknown role"),
        ("li", "inspector", "371", "3 digits"),
        ("li", "inspector", "37x", "not a division code"),
    ],
)
def test_bad_users_are_refused_with_the_reason(
    users: UserStore, name: str, role: str, region: str, message: str
) -> None:
    with pytest.raises(UserError, match=message):
        users.add(name, role, region)
    assert users.list_users() == []


def test_jurisdiction_narrows_wider_requests_and_refuses_foreign_ones() -> None:
    city = User("wang", Role.INSPECTOR, "3704")
    assert scope_region(city, None) == "3704"
    assert scope_region(city, "37") == "3704"
    assert scope_region(city, "370481") == "370481"
    with pytest.raises(PermissionDenied, match="outside your jurisdiction 3704"):
        scope_region(city, "3705")
    with pytest.raises(ValueError):
        scope_region(city, "3")


def test_roles_grant_what_the_domain_says() -> None:
    inspector = User("a", Role.INSPECTOR, "37")
    tech = User("b", Role.TECH_OFFICE, "37")
    admin = User("c", Role.ADMIN, "37")
    assert may_act(inspector, "clear") and not may(inspector, Permission.WRITE_EXEMPTIONS)
    assert may(tech, Permission.WRITE_EXEMPTIONS) and may_act(tech, "comment")
    assert not may_act(tech, "verify")
    assert all(may(admin, p) for p in Permission)
    with pytest.raises(PermissionDenied, match="tech_office, admin"):
        require(inspector, Permission.WRITE_EXEMPTIONS)


def test_cli_prints_the_token_once_and_lists_users_without_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "a.sqlite")
    add = ["users", "add", "zhang", "--role", "inspector", "--region", "370481", "--db", db]
    assert main(add) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    with UserStore.sqlite(db) as users:
        assert users.authenticate(token).name == "zhang"
    assert main(["users", "list", "--db", db]) == 0
    listing = capsys.readouterr().out
    assert "zhang" in listing and "370481" in listing and token not in listing
    assert main(["users", "revoke", "zhang", "--db", db]) == 0
    assert main(["users", "revoke", "zhang", "--db", db]) == 2
    assert "no active user zhang" in capsys.readouterr().err
    with sqlite3.connect(db) as conn:
        [(revoked,)] = conn.execute("SELECT revoked_at_ms FROM feed_users").fetchall()
    assert revoked is not None


def test_docstring_examples_run() -> None:
    import doctest

    import alerts.access
    import alerts.feed.chart

    for module in (alerts.access, alerts.feed.chart):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0
