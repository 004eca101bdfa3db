"""``dianyan users``: manage who may use the feed.

``dianyan users add NAME --role R --region CODE`` prints the new token once;
``dianyan users list`` shows users (never tokens); ``dianyan users revoke NAME`` ends a
user's token and sessions. Users live in the alert store's database (``--db`` or
``--postgres``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alerts.access import Role
from alerts.users import UserStore
from dianyan.alerts_cli import DEFAULT_DB, format_cst


def add_users_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register ``users add|list|revoke``; each sets ``handler(args) -> int``."""
    users = subparsers.add_parser("users", help="用户 / users: feed users and their tokens")
    sub = users.add_subparsers(dest="users_command", required=True)

    add = sub.add_parser("add", help="add a user and print their token (shown once)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument(
        "--region", required=True, help="jurisdiction: 2 (province), 4 (city) or 6 digits"
    )
    add.set_defaults(handler=_cmd_add)

    lst = sub.add_parser("list", help="list users (tokens are never shown)")
    lst.set_defaults(handler=_cmd_list)

    rev = sub.add_parser("revoke", help="revoke a user's token and end their sessions")
    rev.add_argument("name")
    rev.set_defaults(handler=_cmd_revoke)

    for p in (add, lst, rev):
        add_database_arguments(p)
    return users


def add_database_arguments(p: argparse.ArgumentParser) -> None:
    """``--db PATH | --postgres DSN``, shared with ``dianyan serve``."""
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--db", default=DEFAULT_DB, help=f"SQLite alert store (default {DEFAULT_DB})"
    )
    where.add_argument("--postgres", metavar="DSN", help="PostgreSQL alert store instead")


def open_users(args: argparse.Namespace) -> UserStore:
    """The user store of the database the arguments name."""
    if args.postgres:
        return UserStore.postgres(args.postgres)
    Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    return UserStore.sqlite(args.db)


def _cmd_add(args: argparse.Namespace) -> int:
    with open_users(args) as users:
        token = users.add(args.name, args.role, args.region)
    print(f"added {args.name} ({args.role}, region {args.region}). Token (shown only once):")
    print(token)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    with open_users(args) as users:
        records = users.list_users()
    print(f"{'name':<20} {'role':<12} {'region':<7} {'created (CST)':<17} status")
    for u in records:
        status = "active" if u.active else f"revoked {format_cst(u.revoked_at_ms or 0)}"
        print(
            f"{u.name:<20} {u.role.value:<12} {u.region:<7} {format_cst(u.created_at_ms)} {status}"
        )
    print(f"{len(records)} user{'' if len(records) == 1 else 's'}")
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    with open_users(args) as users:
        users.revoke(args.name)
    print(f"revoked {args.name}: their token and sessions no longer work.")
    return 0
