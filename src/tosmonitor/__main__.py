# SPDX-License-Identifier: Apache-2.0
"""``python -m tosmonitor`` and the ``tosmonitor`` command.

The command line is imported only when the command runs: worker processes (started with ``spawn``) re-import
the main module, and should not load the archive, the HTTP client and the alert channels they never use.
"""


def main() -> object:
    """Run the command line."""
    from .cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    main()
