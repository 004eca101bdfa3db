"""config/thresholds.yaml: load it, validate it, version it, and pick up edits while running.

The public entry point for thresholds::

    thresholds = load_thresholds("config/thresholds.yaml")
    thresholds.version                           # "3f9a0c1b2d4e", sha256 of the file bytes
    thresholds.baseline.history_days             # global settings
    r = thresholds.resolve("E00042", "370481", "fireworks")
    r.rule("usage_surge").z                      # one entity's parameters
    table = thresholds.param_table(ids, counties, industries)   # the vectorized form
    table["night_production"]["window_start_slot"]

The parameter schema is in :mod:`detectors.threshold_schema`, the rules for reading the
file in :mod:`detectors.threshold_parse`, resolution in :mod:`detectors.threshold_model`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from detectors.slot_window import SlotWindow, in_window
from detectors.threshold_model import (
    Params,
    ParamTable,
    ResolvedThresholds,
    Thresholds,
    params_used_from_table,
    params_used_of_rows,
)
from detectors.threshold_parse import read_yaml, validate_document
from detectors.threshold_schema import RULES, SECTIONS, SEVERITIES, ParamSpec, RuleSpec
from dianyan.errors import ConfigError

__all__ = [
    "RULES",
    "SECTIONS",
    "SEVERITIES",
    "ParamSpec",
    "ParamTable",
    "Params",
    "ResolvedThresholds",
    "RuleSpec",
    "SlotWindow",
    "Thresholds",
    "ThresholdsWatcher",
    "in_window",
    "load_thresholds",
    "params_used_from_table",
    "params_used_of_rows",
    "parse_thresholds",
]

log = logging.getLogger(__name__)


def content_version(data: bytes) -> str:
    """The version of a thresholds file: the first 12 hex digits of the sha256 of its bytes."""
    return hashlib.sha256(data).hexdigest()[:12]


def parse_thresholds(text: str, source: str = "<thresholds>") -> Thresholds:
    """Validate thresholds given as YAML text (tests, backtests of a candidate file)."""
    return _build(text.encode("utf-8"), text, source)


def load_thresholds(path: str | Path) -> Thresholds:
    """Read and validate a thresholds file; ConfigError says where and what is wrong."""
    return _build(_read_bytes(path), None, str(path))


def _read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            str(path), "", None, f"a readable thresholds file ({exc.strerror or exc})"
        ) from None


def _build(data: bytes, text: str | None, source: str) -> Thresholds:
    if text is None:
        try:
            # utf-8-sig: editors on Windows may save a byte-order mark.
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ConfigError(
                source, "", data[exc.start : exc.end], "a UTF-8 text file (save it as UTF-8)"
            ) from None
    parsed = validate_document(read_yaml(text, source), source)
    return Thresholds.from_parsed(parsed, path=source, version=content_version(data))


def _log_error(error: ConfigError) -> None:
    log.error("%s", error)


class ThresholdsWatcher:
    """Hot reload: keep the last good thresholds and swap in a new file once it validates.

    Call :meth:`poll` from the pipeline between batches (or on a timer). A change is
    noticed by content, not modification time. A bad file is reported once per distinct
    content through ``on_error`` and the running thresholds stay in force.
    """

    def __init__(
        self,
        path: str | Path,
        on_error: Callable[[ConfigError], object] = _log_error,
        initial: Thresholds | None = None,
    ) -> None:
        self.path = Path(path)
        self.on_error = on_error
        self._current = initial if initial is not None else load_thresholds(self.path)
        self._last_refused: str | None = None

    @property
    def current(self) -> Thresholds:
        """The thresholds in force."""
        return self._current

    def poll(self) -> Thresholds | None:
        """The new thresholds if the file changed and validates, else None."""
        try:
            data = _read_bytes(self.path)
        except ConfigError as error:
            return self._refuse("<unreadable>", error)
        version = content_version(data)
        if version == self._current.version:
            self._last_refused = None  # edited back to the running file
            return None
        if version == self._last_refused:
            return None
        try:
            fresh = _build(data, None, str(self.path))
        except ConfigError as error:
            return self._refuse(version, error)
        self._current = fresh
        self._last_refused = None
        return fresh

    def _refuse(self, version: str, error: ConfigError) -> None:
        if version != self._last_refused:
            self._last_refused = version
            self.on_error(error)
        return None
