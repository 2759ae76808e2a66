"""A pod's log kept by pack itself, for the store, beside what the kubelet keeps.

The kubelet serves a container's log only once it has reported the container
running, and it reports on a ~1 s clock: a task that starts and ends between two
reports is seen, log and all, only at the next one. A pod started with
`PACK_STORE_LOG=1` (the kubernetes backend sets it on a pod whose run it follows
alone) has its entrypoints copy everything written to fd 1 and fd 2 (by the task,
by pack, by the subprocesses they start) both to where it went before, so the
kubelet's log is unchanged, and into memory. When the task succeeds, pack-execute
stores that copy as `pod-log.txt` beside outputs.pb, after its done line: the client
polls for that object and ends the attempt on it, showing the stored log.

The copy is stored only when it is whole: not when it outgrew `LIMIT_BYTES`, and
not when a process the task left behind still holds the pipes at exit. The client
then waits for the kubelet as before. Only the standard library is imported here:
this runs in every such pod, before the task.
"""

from __future__ import annotations

import os
import threading
from collections.abc import MutableMapping

ENV_STORE_LOG = "PACK_STORE_LOG"
# What pack-fast-execute captured before it exec'd pack-execute, handed on to it.
ENV_PREFACE = "PACK_LOG_PREFACE"
POD_LOG_NAME = "pod-log.txt"
LIMIT_BYTES = 4 * 1024 * 1024
PREFACE_LIMIT_BYTES = 64 * 1024  # an environment variable: fetch retries say little
DRAIN_SECONDS = 0.5
_CHUNK = 65536


class Capture:
    """Copies fd 1 and fd 2 through pipes: to the descriptors they were, and into
    memory. Each stream keeps its order; between the two, the copy has them in the
    order they were read, as the container runtime's own log does (it too reads the
    two pipes side by side): writes to both within a moment of each other may swap."""

    def __init__(self, *, limit: int = LIMIT_BYTES, preface: bytes = b"") -> None:
        self.limit = limit
        self._chunks: list[bytes] = [preface] if preface else []
        self._size = len(preface)
        self._overflow = self._size > limit
        self._lock = threading.Lock()
        self._saved: dict[int, int] = {}  # fd -> a duplicate of what it was
        self._readers: list[threading.Thread] = []

    def start(self, fds: tuple[int, ...] = (1, 2)) -> None:
        for fd in fds:
            saved = os.dup(fd)
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            self._saved[fd] = saved
            reader = threading.Thread(
                target=self._copy, args=(read_end, saved), name=f"pack-log-{fd}", daemon=True
            )
            reader.start()
            self._readers.append(reader)

    def _copy(self, read_end: int, original: int) -> None:
        forward = True
        try:
            while chunk := os.read(read_end, _CHUNK):
                if forward:
                    forward = _write_all(original, chunk)
                with self._lock:
                    if self._overflow:
                        continue
                    self._size += len(chunk)
                    if self._size > self.limit:
                        self._overflow, self._chunks = True, []
                    else:
                        self._chunks.append(chunk)
        finally:
            os.close(read_end)

    def stop(self, timeout: float = DRAIN_SECONDS) -> bytes | None:
        """Put fd 1 and fd 2 back and wait for the pipes to drain: the log, or None when
        it is not whole (too big, or a left-behind process still holds a pipe)."""
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)  # closes our end of the pipe: its reader sees the end
        deadline = _now() + timeout
        whole = True
        for reader in self._readers:
            reader.join(max(0.0, deadline - _now()))
            whole = whole and not reader.is_alive()
        if whole:  # a reader still running forwards through its duplicate: keep it open
            for saved in self._saved.values():
                os.close(saved)
        self._saved, self._readers = {}, []
        with self._lock:
            if not whole or self._overflow:
                return None
            return b"".join(self._chunks)


def _write_all(fd: int, data: bytes) -> bool:
    """Write all of `data`; False once the descriptor is gone (the copy goes on)."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        return False
    return True


def _now() -> float:
    import time

    return time.monotonic()


_current: Capture | None = None


def begin(env: MutableMapping[str, str]) -> Capture | None:
    """Start capturing fd 1 and fd 2 when the pod asks for it (`PACK_STORE_LOG=1`, taken
    out of `env`: the task's own processes do not capture) and they are not a terminal;
    what fast-execute captured before an exec comes first. When fast-execute runs
    pack-execute in its own process, its capture goes on."""
    global _current
    wanted = env.pop(ENV_STORE_LOG, "") == "1"
    preface = env.pop(ENV_PREFACE, "").encode("utf-8", errors="replace")
    if _current is not None or not wanted:
        return _current
    if os.isatty(1) or os.isatty(2):  # `tty: true`: the task keeps its terminal
        return None
    import atexit

    _current = Capture(limit=LIMIT_BYTES, preface=preface)
    _current.start()
    atexit.register(end)  # whatever ends the process, what is in the pipes gets out
    return _current


def capturing() -> bool:
    return _current is not None


def end(timeout: float = DRAIN_SECONDS) -> bytes | None:
    """Stop the capture (if one runs): its log, or None (none, or not whole)."""
    global _current
    capture, _current = _current, None
    return capture.stop(timeout) if capture is not None else None


def hand_on(env: MutableMapping[str, str]) -> None:
    """Before an exec: stop the capture and have the next program go on with it, what
    it holds first, through `env`. Not when that is too big for an environment
    variable: the next program then stores no log."""
    if _current is None:
        return
    text = end()
    if text is not None and len(text) <= PREFACE_LIMIT_BYTES:
        env[ENV_STORE_LOG] = "1"
        env[ENV_PREFACE] = text.decode("utf-8", errors="replace").replace("\0", "")
