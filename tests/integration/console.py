"""Helpers for tests that start `pack ui` and look at it in the browser (conftest's `page`)."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .conftest import pack_cmd


def shoot(page: Any, path: Path) -> None:
    """A screenshot of the whole page: the viewport grown to it (a full_page shot leaves
    the sandboxed deck frame blank in headless chromium)."""
    height = int(page.evaluate("document.documentElement.scrollHeight"))
    page.set_viewport_size({"width": 1280, "height": height})
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1280, "height": 900})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_console(env: dict[str, str], *args: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    proc = subprocess.Popen(
        pack_cmd("ui", "--port", str(port), "--poll", "0.3", *args),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"pack ui exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            urllib.request.urlopen(url + "healthz", timeout=1)  # noqa: S310 - loopback
            return proc, url
        except urllib.error.HTTPError:
            return proc, url  # up (a token-guarded console answers 401)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("pack ui did not start in 30 s")
