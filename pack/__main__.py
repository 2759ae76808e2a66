"""The `pack` console script and `python -m pack`.

Kept apart from `pack.cli` so that a Ctrl-C while the CLI's modules are still being
imported is one line and exit 130 too, not an import traceback.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn


def main() -> Any:
    try:
        from pack.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("pack: interrupted\n")
        sys.exit(130)
    try:
        code = cli_main()
    except SystemExit as exc:
        code = exc.code
    finally:
        from pack.interrupts import ignore_signals

        ignore_signals()  # the exit code is decided: interpreter shutdown is not interrupted
    leave(code)


def exit_status(code: Any) -> int:
    """Pure: the process status `sys.exit(code)` gives (a text is printed and is 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    return 1


def leave(code: Any) -> NoReturn:
    """End the process as `sys.exit(code)` would, without the interpreter's teardown.

    Freeing the ~400 modules of a `pack run` costs ~50 ms after the work is done. Exit
    handlers run and the standard streams are flushed first; with a thread that is not
    a daemon still running, or under a profiler or debugger (`python -m cProfile -m
    pack`), the ordinary exit is taken.
    """
    import atexit
    import os
    import threading

    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)  # a profiler or debugger writes its results after the program returns
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
    status = exit_status(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: what sys.exit reports as 120
            status = status or 120
    os._exit(status)


if __name__ == "__main__":
    main()
