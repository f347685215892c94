"""The ``masterplan`` command line: one sub-command per job, each a thin shell over a module."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from pydantic import ValidationError

from masterplan.config import Settings
from masterplan.store import StoreError, apply_migrations, create_store, load_prompt_files

Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


class CLIError(Exception):
    """A problem the user can fix; printed as one line."""


async def migrate_command(args: argparse.Namespace, settings: Settings) -> int:
    store = create_store(args.db or settings.database_url)
    await store.open()
    try:
        applied = await apply_migrations(store)
        loaded = await load_prompt_files(store)
    finally:
        await store.close()
    if applied:
        for migration in applied:
            print(f"applied {migration.label} ({store.description})")
    else:
        print(f"schema up to date ({store.description})")
    for item in loaded:
        state = "new version" if item.created else "unchanged"
        print(f"{item.kind} {item.name} v{item.version} ({state})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="masterplan", description="Turn a software request into a workspace of working code."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    migrate = commands.add_parser("migrate", help="apply database migrations and load the shipped prompts")
    migrate.add_argument("--db", help="database URL (default: MASTERPLAN_DATABASE_URL or the embedded SQLite file)")
    migrate.set_defaults(handler=migrate_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"masterplan: error: invalid settings: {error}", file=sys.stderr)
        return 2
    handler: Command = args.handler
    try:
        return asyncio.run(handler(args, settings))
    except (StoreError, CLIError) as error:
        print(f"masterplan: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
