# SPDX-License-Identifier: Apache-2.0
"""The worker side of a history import: one document's versions read from their files and derived in time order.

Owns :class:`DerivedStep`, :func:`derive_chain` (what ``imports`` hands its process pool) and :func:`read_text`.
A spawned worker imports the module of the function it runs, so this one imports only the pure modules and the
errors: not the archive, the HTTP clients or the configuration, which an import worker never uses (starting a
worker then costs about a third of the CPU and half the memory it did when it imported ``imports``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from . import analysis
from .derive import Derived, derive_from_text
from .errors import InputError
from .models import sha256_hex


@dataclass(frozen=True)
class DerivedStep:
    """One item of a document's history, analysed (``derived`` None: not a new version, skipped)."""

    moment: datetime
    derived: Derived | None
    first: bool  # no version before it: a first version, with no change to record


def read_text(path: Path) -> str:
    """A version file's text.

    :raises InputError: naming the file when it cannot be read or is not UTF-8.
    """
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def derive_chain(
    service: str,
    latest_text: str | None,
    latest_at: datetime | None,
    items: list[tuple[datetime, str | Path]],
) -> list[DerivedStep]:
    """Derive a document's history in time order against ``latest_text`` (the archive's latest version of it,
    first seen at ``latest_at``): items dated before it, and items with the same text as the one before, are
    skipped. Texts given as paths are read here."""
    steps = []
    previous = latest_text
    previous_sha = sha256_hex(previous) if previous is not None else None
    history = analysis.History()  # each version is read once, as the new side and then the old one
    for moment, item in items:
        if latest_at is not None and moment < latest_at:
            steps.append(DerivedStep(moment, None, previous is None))
            continue
        text = read_text(item) if isinstance(item, Path) else item
        sha = sha256_hex(text)
        if sha == previous_sha:
            steps.append(DerivedStep(moment, None, False))
            continue
        steps.append(
            DerivedStep(moment, derive_from_text(text, previous, service, history), previous is None)
        )
        previous, previous_sha = text, sha
    return steps
