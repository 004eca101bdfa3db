"""The one exception root of dianyan.

Hierarchy::

    DianyanError
    ├── ConfigError          bad configuration file (names file, key path, expected)
    ├── SchemaError          a table or file does not have the reading/registry schema
    ├── RegistryError        entity master data is inconsistent
    ├── CalendarRangeError   a date outside the working-day calendar's years
    └── AlertActionError     an illegal or conflicting alert action
        └── StaleSequenceError   the alert changed since the caller last read it

Messages end with what to do about it.
"""

from __future__ import annotations


class DianyanError(Exception):
    """Root of every error dianyan raises on purpose."""


class ConfigError(DianyanError):
    """A configuration file is refused; the running configuration stays in force."""

    def __init__(self, file: str, key_path: str, value: object, expected: str) -> None:
        self.file = file
        self.key_path = key_path
        self.value = value
        self.expected = expected
        super().__init__(
            f"{file}: {key_path or '<root>'} = {value!r} is invalid; expected {expected}. "
            "Fix the file; the running configuration stays in force."
        )


class SchemaError(DianyanError):
    """Input does not have the columns or types dianyan needs."""


class RegistryError(DianyanError):
    """Entity master data (entities, status timeline, exemptions) is inconsistent."""


class CalendarRangeError(DianyanError):
    """A date falls outside the years the working-day calendar covers."""


class AlertActionError(DianyanError):
    """An alert action is illegal from the alert's current state; nothing changed."""


class StaleSequenceError(AlertActionError):
    """The alert changed since the caller read it (expected sequence mismatch)."""
