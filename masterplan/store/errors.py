"""Errors the store raises; each message names the problem in one line."""


class StoreError(Exception):
    """Base of every store error."""


class StoreConfigError(StoreError):
    """The database URL is malformed or names an unsupported database."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or opened."""


class NotFound(StoreError):
    """A row the caller named does not exist."""


class MigrationError(StoreError):
    """A migration file is malformed or failed to apply."""
