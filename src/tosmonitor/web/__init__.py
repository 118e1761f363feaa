# SPDX-License-Identifier: Apache-2.0
"""The read-only web dashboard, JSON API and Atom feeds over the archive (``tosmonitor serve``).

Needs the ``web`` extra (Starlette, Jinja2, uvicorn). See ``docs/web.md``.
"""

from __future__ import annotations

from .app import TOKEN_ENV, create_app, token_from_env

__all__ = ["TOKEN_ENV", "create_app", "token_from_env"]
