"""Errors of the run lifecycle, each ending a run with a message a user can act on."""

from masterplan.executor.context import RunCancelled

__all__ = ["PhaseFailed", "RunCancelled", "RunConflict", "RunNotFound", "WorkspaceUnavailable"]


class PhaseFailed(Exception):
    """A phase could not produce a usable result; the run fails with this message."""


class RunNotFound(LookupError):
    """No run has that id."""


class RunConflict(Exception):
    """The run is not in a state that allows the request (e.g. answers to a run that is not waiting)."""


class WorkspaceUnavailable(Exception):
    """The service cannot write run workspaces (its own misconfiguration); no run is created, nothing is paid."""
