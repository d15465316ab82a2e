"""Errors the core library raises; each carries a message a user can act on."""


class CorridorError(Exception):
    """Base of every error corridor reports to a user (CLI exit code 2, HTTP 4xx)."""


class InputError(CorridorError):
    """Input text or file that cannot be read: empty, binary, too large, malformed."""


class CatalogError(CorridorError):
    """A catalog file that does not load or does not validate."""


class UnknownObject(CorridorError):
    """A zone, feature, platform or build run that the catalog does not have."""


class Conflict(CorridorError):
    """A write based on a version that another writer has replaced meanwhile (optimistic concurrency)."""


class StorageUnavailable(CorridorError):
    """The catalog storage cannot be reached or is busy (a database server down, a locked file)."""
