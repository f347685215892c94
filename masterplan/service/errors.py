"""Errors of the run lifecycle, each ending a run with a message a user can act on."""

from masterplan.executor.context import RunCancelled
from masterplan.models import Run
from masterplan.repository.checkout import RepositoryForbidden, RepositoryRefused
from masterplan.store import NotFound, StoreTx

__all__ = [
    "PhaseFailed",
    "RepositoryForbidden",
    "RepositoryRefused",
    "RunCancelled",
    "RunConflict",
    "RunNotFound",
    "WorkspaceUnavailable",
    "require_run",
]


class PhaseFailed(Exception):
    """A phase could not produce a usable result; the run fails with this message."""


class RunNotFound(LookupError):
    """No run has that id."""


class RunConflict(Exception):
    """The run is not in a state that allows the request (e.g. answers to a run that is not waiting)."""


class WorkspaceUnavailable(Exception):
    """The service cannot write run workspaces (its own misconfiguration); no run is created, nothing is paid."""


async def require_run(tx: StoreTx, run_id: str, *, for_update: bool = False) -> Run:
    """The run, or RunNotFound naming the id (the store's NotFound is not the caller's business)."""
    try:
        return await tx.require_run(run_id, for_update=for_update)
    except NotFound:
        raise RunNotFound(f"no run with id {run_id!r}") from None
