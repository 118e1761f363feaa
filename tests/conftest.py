# SPDX-License-Identifier: Apache-2.0
"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localserver import LocalServer


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A fresh scripted HTTP server on 127.0.0.1 (random port), stopped after the test."""
    server = LocalServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def session_server() -> Iterator[LocalServer]:
    """One scripted server for the whole session (cheaper for read-only pages); call ``reset()`` to clear it."""
    server = LocalServer().start()
    try:
        yield server
    finally:
        server.stop()
