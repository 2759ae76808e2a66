"""A pod's log kept by pack itself, for the store, beside what the kubelet keeps.

The kubelet serves a container's log only once it has reported the container
running, and it reports on a ~1 s clock: a task that starts and ends between two
reports is seen, log and all, only at the next one. A pod started with
`PACK_STORE_LOG=1` (the kubernetes backend sets it on a pod whose run it follows
alone) has its entrypoints copy everything written to fd 1 and fd 2 (by the task,
by pack, by the subprocesses they start) both to where it went before, so the
kubelet's log is unchanged (stderr stays stderr), and into memory: a small forked
process (the copier) reads the pipes that fd 1 and fd 2 become. When the task succeeds, pack-execute
stores that copy as `pod-log.txt` beside outputs.pb, after its done line: the client
polls for that object and ends the attempt on it, showing the stored log.

The copy is stored only when it is whole: not when it outgrew `LIMIT_BYTES`, and
not when a process the task left behind still holds the pipes at exit. The client
then waits for the kubelet as before. Only the standard library is imported here:
this runs in every such pod, before the task.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

ENV_STORE_LOG = "PACK_STORE_LOG"
# What pack-fast-execute captured before it exec'd pack-execute, handed on to it.
ENV_PREFACE = "PACK_LOG_PREFACE"
POD_LOG_NAME = "pod-log.txt"
LIMIT_BYTES = 4 * 1024 * 1024
PREFACE_LIMIT_BYTES = 64 * 1024  # an environment variable: fetch retries say little
DRAIN_SECONDS = 0.5  # at exit, for the copier to hand the copy back
_CHUNK = 65536


class Capture:
    """Copies fd 1 and fd 2 through pipes to where they went and into memory, in a
    forked process of its own (the copier): it needs no share of the task's
    interpreter lock, so what the task wrote reaches the container's log at once,
    even if the task is killed (out of memory) a moment later. Each stream keeps its
    order; between the two, the copy has them in the order they were read, as the
    container runtime's own log does (it too reads the two pipes side by side)."""

    def __init__(self, *, limit: int = LIMIT_BYTES, preface: bytes = b"") -> None:
        self.limit = limit
        self.preface = preface
        self._saved: dict[int, int] = {}  # fd -> a duplicate of what it was
        self._result: int | None = None  # the copier hands the copy back through it
        self._pid: int | None = None

    def start(self, fds: tuple[int, ...] = (1, 2)) -> None:
        """Fork the copier; call it before any thread starts (a fork copies only the
        calling thread)."""
        pipes = {fd: os.pipe() for fd in fds}
        result_read, result_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the copier: never returns into the task's code
            try:
                os.close(result_read)
                for _, write_end in pipes.values():
                    os.close(write_end)
                _copy(
                    {read_end: fd for fd, (read_end, _) in pipes.items()},
                    result_write,
                    self.limit,
                    self.preface,
                )
            finally:
                os._exit(0)
        self._pid, self._result = pid, result_read
        os.close(result_write)
        for fd, (read_end, write_end) in pipes.items():
            self._saved[fd] = os.dup(fd)
            os.dup2(write_end, fd)
            os.close(write_end)
            os.close(read_end)

    def stop(self, timeout: float = DRAIN_SECONDS) -> bytes | None:
        """Put fd 1 and fd 2 back and wait for the copier to drain the pipes: the log,
        or None when it is not whole (too big, or a process the task left behind still
        holds a pipe: the copier then goes on forwarding what it writes)."""
        import select

        for fd, saved in self._saved.items():
            os.dup2(saved, fd)  # closes this process's end of the pipe
            os.close(saved)
        self._saved = {}
        result, self._result = self._result, None
        if result is None:
            return None
        data: list[bytes] = []
        deadline = _now() + timeout
        try:
            while True:
                left = deadline - _now()
                if left <= 0 or not select.select([result], [], [], left)[0]:
                    return None
                chunk = os.read(result, _CHUNK)
                if not chunk:
                    break
                data.append(chunk)
        finally:
            os.close(result)
        if self._pid is not None:
            os.waitpid(self._pid, 0)  # it exits once it has handed the copy back
        out = b"".join(data)
        return out[1:] if out[:1] == _WHOLE else None


_WHOLE = b"w"
_TOO_BIG = b"b"


def _copy(pipes: dict[int, int], result: int, limit: int, preface: bytes) -> None:
    """The copier's loop: each pipe's bytes to its fd and into memory until every pipe
    is closed, then the copy (or that it outgrew `limit`) through `result`."""
    import select
    import signal

    # A Ctrl-C or a SIGTERM is the task's: the copier ends when the pipes close.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    chunks = [preface] if preface else []
    size = len(preface)
    too_big = size > limit
    forward = dict.fromkeys(pipes, True)
    poller = select.poll()
    for read_end in pipes:
        poller.register(read_end, select.POLLIN)
    open_ends = set(pipes)
    while open_ends:
        for read_end, _ in poller.poll():
            chunk = os.read(read_end, _CHUNK)
            if not chunk:
                poller.unregister(read_end)
                open_ends.discard(read_end)
                continue
            if forward[read_end]:
                forward[read_end] = _write_all(pipes[read_end], chunk)
            if too_big:
                continue
            size += len(chunk)
            if size > limit:
                too_big, chunks = True, []
            else:
                chunks.append(chunk)
    _write_all(result, _TOO_BIG if too_big else _WHOLE + b"".join(chunks))


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
