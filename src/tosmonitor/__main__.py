# SPDX-License-Identifier: Apache-2.0
"""``python -m tosmonitor``."""

from .cli import main

main()
