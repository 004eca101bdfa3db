"""The one exception root of dianyan.

Hierarchy::

    DianyanError
    ├── ConfigError          bad configuration file (names file, key path, expected)
    ├── SchemaError          a table or file does not have the reading/registry schema
    ├── RegistryError        entity master data is inconsistent
    ├── CalendarRangeError   a date outside the working-day calendar's years
    ├── NotFound             no such record inside the caller's region (HTTP 404)
    │   ├── AlertNotFound
    │   └── ExemptionNotFound
    ├── ExemptionError       an exemption (报备) that cannot be added or revoked as asked
    └── AlertActionError     an illegal or conflicting alert action (HTTP 409)
        ├── StaleSequenceError   the alert changed since the caller last read it (409)
        └── AlertPayloadError    the action's payload is malformed (HTTP 422)

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


class NotFound(DianyanError):
    """No such record, or it lies outside the caller's region: the same answer for both."""


class AlertNotFound(NotFound):
    """No alert with this id inside the caller's region."""


class ExemptionNotFound(NotFound):
    """No exemption with this id inside the caller's region."""


class ExemptionError(DianyanError):
    """An exemption (报备) is malformed, or cannot change as asked; nothing changed."""


class AlertActionError(DianyanError):
    """An alert action is illegal from the alert's current state; nothing changed.

    ``state`` is the alert's current state and ``allowed`` the actions it accepts, when known.
    """

    def __init__(
        self, message: str, *, state: str | None = None, allowed: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.state = state
        self.allowed = allowed


class StaleSequenceError(AlertActionError):
    """The alert changed since the caller read it (expected sequence mismatch)."""

    def __init__(self, message: str, *, expected: int, current: int) -> None:
        super().__init__(message)
        self.expected = expected
        self.current = current


class AlertPayloadError(AlertActionError):
    """An action's payload is malformed: a field is missing, unknown or of the wrong kind."""
