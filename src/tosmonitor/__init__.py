# SPDX-License-Identifier: Apache-2.0
"""tosmonitor: watch platforms' terms and policies, archive every version, explain AI-training changes.

The data path flows one way (see README, "Architecture"):
config -> fetch -> archive (snapshot) -> extract -> archive (version) -> diff -> analysis -> alerts.
``monitor`` is the one module that wires these steps together.
"""

__version__ = "0.1.0"
