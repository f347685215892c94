"""Whether the service can do its work now: the store reachable, migrated and writable, the workspace root writable.

Asked at start (one line in the log when not) and by ``GET /ready``, so a
read-only database file or an unwritable workspace root is found before a
request is accepted, not after discovery and planning were paid for.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from masterplan.store import Store
from masterplan.store.migrate import pending_migrations


def workspace_root_problem(root: Path) -> str | None:
    """Why runs cannot write their workspaces under ``root`` (created if missing); None when they can."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as error:
        return f"the workspace root {root.resolve()} is not writable: {error.strerror or error}"
    return None


async def store_problem(store: Store) -> str | None:
    """Why the store cannot take a run now (unreachable, migrations pending, read-only); None when it can."""
    try:
        async with store.transaction() as tx:
            await tx.ping()
        pending = await pending_migrations(store)
        if pending:
            return f"pending migrations: {', '.join(migration.label for migration in pending)}"
        async with store.transaction() as tx:
            await tx.probe_write()
    except Exception as error:  # any driver failure means "not ready": the probe names it instead of failing
        return f"store unavailable: {error}"
    return None
