# SPDX-License-Identifier: Apache-2.0
"""The error hierarchy. Every error a user can meet is a ``TosMonitorError``.

    TosMonitorError
    ├── ConfigError      targets.yaml or a rules file is invalid (names file, line, field)
    ├── FetchError       a page could not be fetched (names the URL)
    ├── ExtractError     a page gave no usable text (selector matched nothing, empty text)
    ├── ArchiveError     the SQLite archive is unusable or locked
    ├── AlertError       a channel could not deliver
    └── InputError       a local file given on the command line is unreadable

Messages say what failed, where, and what to try. The CLI turns these into exit codes in one place.
"""

from __future__ import annotations


class TosMonitorError(Exception):
    """Base class of every error tosmonitor raises on purpose."""


class ConfigError(TosMonitorError):
    """Invalid configuration. ``str()`` reads ``FILE:LINE: FIELD: message``."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        elif self.line:
            where = f"line {self.line}: "
        what = f"{self.field}: " if self.field else ""
        return f"{where}{what}{self.message}"


class FetchError(TosMonitorError):
    """A page could not be fetched."""


class ExtractError(TosMonitorError):
    """A page yielded no usable text: a selector matched nothing, or the text is empty."""


class ArchiveError(TosMonitorError):
    """The archive cannot be opened, migrated or locked."""


class ArchiveLocked(ArchiveError):
    """Another ``tosmonitor check`` holds the archive's lock."""


class AlertError(TosMonitorError):
    """A channel failed to deliver an alert."""


class InputError(TosMonitorError):
    """A local input file is missing, unreadable or of an unknown kind."""
