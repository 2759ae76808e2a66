"""The `pack` console script and `python -m pack`.

Kept apart from `pack.cli` so that a Ctrl-C while the CLI's modules are still being
imported is one line and exit 130 too, not an import traceback.
"""

from __future__ import annotations

import sys
from typing import Any


def main() -> Any:
    try:
        from pack.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("pack: interrupted\n")
        sys.exit(130)
    try:
        return cli_main()
    finally:
        from pack.interrupts import ignore_signals

        ignore_signals()  # the exit code is decided: interpreter shutdown is not interrupted


if __name__ == "__main__":
    sys.exit(main())
