"""The exception tree of lunge.

Every error lunge raises on purpose derives from :class:`LungeError`; third-party exceptions are
translated at the boundary that owns the library (aiohttp in ``engine.sender``, SQLAlchemy in
``store.sql``) so nothing above catches ``aiohttp.*`` or ``sqlalchemy.*``::

    LungeError
    ├── ConfigError          bad settings, policy or input file: one line, exit 2
    │   ├── SettingError     an environment variable or flag (names it, its value, what is allowed)
    │   ├── PolicyError      a test policy file (file, line, what is wrong)
    │   └── InputFileError   a file given to lunge: raw request, HAR, OpenAPI, Postman, curl
    ├── MessageError         bytes that are not an HTTP/1.x message
    ├── StoreError           the store failed (database unreachable, schema too new, ...)
    │   ├── NotFoundError    an id that names nothing in the store
    │   └── StoreUnavailableError  the database cannot be opened at start (also a ConfigError: exit 2)
    ├── TargetError          a network failure while talking to the target
    ├── CheckError           a check misbehaved (a plugin bug); the run carries on without it
    └── ExtensionError       an invalid YAML extension (file and line)

This module imports nothing of lunge, so every layer may use it.
"""

from __future__ import annotations


class LungeError(Exception):
    """Root of every error lunge raises on purpose."""


class ConfigError(LungeError):
    """Bad configuration or input: the CLI prints the message as one line and exits 2."""


class SettingError(ConfigError):
    """An environment variable or CLI flag has a value that is not allowed.

    The message names the variable, the value and what is allowed.
    """

    def __init__(self, name: str, value: object, allowed: str) -> None:
        self.name = name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{name}={value!r} is not allowed: {allowed}")


class PolicyError(ConfigError):
    """A test policy file is invalid; the message carries the file and the line."""


class InputFileError(ConfigError):
    """A file handed to lunge (raw request, HAR, OpenAPI, Postman, curl) cannot be used."""

    def __init__(self, path: str, where: str, problem: str) -> None:
        self.path = path
        self.where = where
        self.problem = problem
        location = f"{path}: {where}" if where else path
        super().__init__(f"{location}: {problem}")


class MessageError(LungeError, ValueError):
    """Bytes that cannot be read as an HTTP/1.x request or response."""


class StoreError(LungeError):
    """The store could not do what was asked."""


class NotFoundError(StoreError):
    """An id that names nothing in the store."""


class StoreUnavailableError(StoreError, ConfigError):
    """The database ``LUNGE_DB`` names cannot be opened (unreachable server, not a database, a
    directory that cannot be created, a schema from a newer lunge): bad configuration, exit 2.

    Raised when a store is opened, before anything is done with it; a store failing later, in the
    middle of a run, is a plain :class:`StoreError`.
    """


class TargetError(LungeError):
    """A network failure while talking to the target (refused, reset, timed out, TLS)."""


class CheckError(LungeError):
    """A check raised or returned something it must not; the engine records it and carries on."""


class ExtensionError(ConfigError):
    """An invalid YAML extension, with the file and line."""
