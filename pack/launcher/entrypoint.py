"""In-container entrypoints: `pack-fast-execute` and `pack-execute`.

Both start in every pod, so this module imports only the standard library at the
top; flyteidl, the type engine and the store client are imported when used, and
nothing imports kubernetes, boto3 (unless the store is s3://) or click. The
variables the pod sets are read here and nowhere else.

pack-fast-execute --additional-distribution URL --dest-dir DIR -- CMD...
    fetch the bundle (retrying with backoff), verify and extract it beside DIR,
    rename it into place (once per pod: a lock and a completion marker), then
    exec CMD in DIR with DIR on PYTHONPATH.
pack-execute --inputs URL --output-prefix URL --raw-output-data-prefix URL
             --resolver NAME -- task-module M task-name N
    load the task, read inputs.pb (waiting up to a minute for it to be written:
    a backend may create the pod while it uploads it), run, write
    outputs.pb; on failure write errors.pb (user vs system, recoverable or not, the
    user's traceback) and exit 1.
"""

from __future__ import annotations

import time

_STARTED = time.time()

import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Iterator, Mapping, Sequence, Set  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, NoReturn  # noqa: E402

FAST_EXECUTE = "pack-fast-execute"
EXECUTE = "pack-execute"
MARKER = ".pack-bundle"
ENV_FETCH_TIMING = "PACK_FETCH_TIMING"  # "<start>,<end>" handed from fast-execute to execute
# Set (to a token of the pod's own) by the kubernetes backend on the pods whose log it
# follows: pack-execute ends a successful run with DONE_LINE and the token on stdout, after
# everything but the interpreter's teardown, and the backend takes that as the end of the
# attempt instead of waiting for the kubelet's status report (up to its ~1 s period later).
ENV_SAY_DONE = "PACK_SAY_DONE"
DONE_LINE = "pack-execute: done"
# Pause between flushing stderr and writing DONE_LINE on stdout: the runtime copies the
# two pipes into the log separately, and a line of stderr must not land after DONE_LINE.
DONE_SETTLE_SECONDS = 0.01
EXECUTE_OPTIONS = frozenset(
    {"--inputs", "--output-prefix", "--raw-output-data-prefix", "--resolver"}
)
EXIT_USER = 1
EXIT_SYSTEM = 2


class UsageFailure(Exception):
    pass


# --- argument parsing (hand-rolled: argparse costs more than the work on small tasks) -----


def _split_command(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    args = list(argv)
    if "--" not in args:
        raise UsageFailure("missing `--` before the command")
    i = args.index("--")
    return args[:i], args[i + 1 :]


def _options(args: Sequence[str], known: Set[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    it = iter(args)
    for flag in it:
        name, eq, value = flag.partition("=")
        if name not in known:
            raise UsageFailure(f"unknown option {flag!r}; expected {', '.join(sorted(known))}")
        if not eq:
            try:
                value = next(it)
            except StopIteration:
                raise UsageFailure(f"option {name} needs a value") from None
        out[name] = value
    return out


def _require(opts: dict[str, str], *names: str) -> None:
    missing = [n for n in names if n not in opts]
    if missing:
        raise UsageFailure(f"missing {', '.join(missing)}")


def program_for(cmd: Sequence[str]) -> list[str]:
    """Run pack's own entrypoints with this interpreter's copy (the console script beside
    sys.executable, else `python -m`), so a venv's pack is used and no shim is in the way."""
    if not cmd:
        raise UsageFailure("empty command after `--`")
    if cmd[0] in (FAST_EXECUTE, EXECUTE):
        script = Path(sys.executable).parent / cmd[0]
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script), *cmd[1:]]
        return [sys.executable, "-m", "pack.launcher.entrypoint", *cmd]
    return list(cmd)


# --- pack-fast-execute --------------------------------------------------------------------


def ensure_bundle(
    url: str,
    dest: Path,
    *,
    fetch: Callable[[str, Path], Any] | None = None,
    attempts: int = 5,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Make `dest` hold the bundle at `url`; True if this call extracted it.

    Several processes in one pod may race: an exclusive lock beside `dest` serializes
    them and a marker written after the rename says the extraction completed. A
    destination found in place is reused only when its tree is verified against the
    digest the bundle is named by (the marker alone could have been planted, in the
    image or on a shared volume); anything else there is moved aside and replaced.
    """
    import fcntl
    import shutil
    import tempfile

    from pack.packager.extract import digest_from_url, tree_matches

    if fetch is None:
        from pack.packager.extract import fetch_and_extract

        def fetch(u: str, d: Path) -> Any:
            return fetch_and_extract(u, d)

    dest.parent.mkdir(parents=True, exist_ok=True)
    marker = dest / MARKER
    digest = digest_from_url(url)
    lock_flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(dest.parent / f".{dest.name}.lock", lock_flags, 0o600), "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (
            digest is not None
            and _marker_says(marker, url)
            and tree_matches(dest, digest, ignore={MARKER})
        ):
            return False
        if dest.exists() or dest.is_symlink():
            # A crash mid-way, another bundle, or files nothing vouches for: aside, then gone.
            aside = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old.", dir=dest.parent))
            os.rename(dest, aside / "old")
            shutil.rmtree(aside, ignore_errors=True)
        from pack.errors import ArchiveError

        for attempt in range(attempts):
            try:
                fetch(url, dest)
                break
            except ArchiveError:
                raise  # a bundle that fails verification will not get better
            except Exception as exc:
                if attempt == attempts - 1:
                    raise
                delay = backoff * (2**attempt)
                print(
                    f"pack-fast-execute: fetch failed ({exc}); retrying in {delay:g}s",
                    file=sys.stderr,
                )
                sleep(delay)
        tmp_marker = dest / f"{MARKER}.tmp"
        tmp_marker.write_text(url, encoding="utf-8")
        os.replace(tmp_marker, marker)
        return True


def use_pod_store_settings(env: Mapping[str, str]) -> None:
    """The S3 endpoint and network timeout the pod was rendered with
    (`PACK_S3_ENDPOINT_URL`, `PACK_NETWORK_TIMEOUT`), for every store access of this
    process: bundle, inputs, outputs, errors, timings, File values; without boto3 when
    the pod's environment holds the credentials (pack.packager.s3lite)."""
    from pack.packager.store import (
        ENV_NETWORK_TIMEOUT,
        ENV_S3_ENDPOINT,
        use_light_s3,
        use_network_timeout,
        use_s3_endpoint,
    )

    use_s3_endpoint(env.get(ENV_S3_ENDPOINT) or None)
    use_light_s3(True)
    try:
        seconds: float | None = float(env.get(ENV_NETWORK_TIMEOUT) or 0) or None
    except ValueError:  # pack writes a number there; anything else leaves the default
        seconds = None
    use_network_timeout(seconds if seconds and seconds > 0 else None)


def _marker_says(marker: Path, url: str) -> bool:
    try:
        fd = os.open(marker, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, encoding="utf-8") as f:
            return f.read(len(url) + 1) == url
    except (OSError, ValueError):
        return False


def fast_execute(argv: Sequence[str]) -> NoReturn:
    from pack.launcher import logcapture

    use_pod_store_settings(os.environ)
    logcapture.begin(os.environ)
    head, cmd = _split_command(argv)
    opts = _options(head, {"--additional-distribution", "--dest-dir"})
    _require(opts, "--additional-distribution", "--dest-dir")
    url = opts["--additional-distribution"]
    dest = Path(opts["--dest-dir"]).absolute()
    program = program_for(cmd)
    started = time.time()
    try:
        ensure_bundle(url, dest)
    except Exception as exc:
        # The task never ran: record a system error where pack-execute would have.
        _report_fetch_failure(cmd, url, exc)
        print(f"pack-fast-execute: cannot fetch {url}: {exc}", file=sys.stderr)
        sys.exit(EXIT_SYSTEM)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(dest), env.get("PYTHONPATH")) if p)
    env[ENV_FETCH_TIMING] = f"{_STARTED},{started},{time.time()}"
    os.chdir(dest)
    if continues_here(cmd, program, _top_level_names(dest), set(sys.modules), sys.path[:1]):
        _execute_here(cmd, program, env, dest)
    sys.stdout.flush()
    sys.stderr.flush()
    logcapture.hand_on(env)
    os.execvpe(program[0], program, env)


def _top_level_names(dest: Path) -> set[str]:
    """What the bundle could be imported as: `x` for x.py, x/, x.cpython-311-….so."""
    try:
        return {entry.split(".", 1)[0] for entry in os.listdir(dest)}
    except OSError:
        return {"?"}  # unknown: continue_here says no


_CUSTOMIZE = {"sitecustomize", "usercustomize"}


def continues_here(
    cmd: Sequence[str],
    program: Sequence[str],
    bundle_names: set[str],
    loaded: set[str],
    path0: Sequence[str],
) -> bool:
    """Pure: whether pack-execute can run in this interpreter instead of an exec'd one,
    with no difference a task could see (saves a Python start, a second boto3 import
    and S3 client, ~0.25 s a run).

    Only for pack's own console script beside this interpreter's, whose folder is the
    sys.path[0] a new interpreter would get too; and only when the bundle holds no
    module a new interpreter would import differently: none named like a module this
    one has loaded already (the bundle comes first on PYTHONPATH and would shadow it)
    and no sitecustomize/usercustomize (a new interpreter runs those at start).
    """
    if cmd[:1] != [EXECUTE] or not program or program[0] == sys.executable:
        return False
    if list(path0) != [os.path.dirname(os.path.realpath(program[0]))]:
        return False
    if "?" in bundle_names:
        return False
    loaded_top = {name.split(".", 1)[0] for name in loaded}
    return not (bundle_names & loaded_top) and not (bundle_names & _CUSTOMIZE)


def _execute_here(
    cmd: Sequence[str], program: Sequence[str], env: dict[str, str], dest: Path
) -> NoReturn:
    """What exec'ing pack-execute would set up: the environment, the bundle where
    PYTHONPATH puts it (after the script's folder), argv; then run it."""
    global _STARTED

    os.environ.update({k: env[k] for k in ("PYTHONPATH", ENV_FETCH_TIMING)})
    sys.path.insert(1, str(dest))
    sys.argv = list(program)
    _STARTED = time.time()
    # The status, not the exit: fast-execute's own guard ends the process (_guard).
    sys.exit(_status(execute, EXECUTE, list(cmd[1:])))


def _report_fetch_failure(cmd: Sequence[str], url: str, exc: BaseException) -> None:
    if EXECUTE not in cmd[:1] or "--output-prefix" not in cmd:
        return
    prefix = cmd[cmd.index("--output-prefix") + 1]
    try:
        _write_error(
            prefix,
            code="BundleFetchFailed",
            message=f"cannot fetch the code bundle {url}: {exc}",
            user=False,
            recoverable=True,
        )
    except Exception as write_exc:  # the store itself is unreachable
        print(f"pack-fast-execute: cannot write errors.pb: {write_exc}", file=sys.stderr)


# --- pack-execute ---------------------------------------------------------------------------


class Failure(Exception):
    """A failed step: who is at fault (user or system) and whether to retry."""

    def __init__(self, exc: BaseException, *, user: bool, recoverable: bool, step: str) -> None:
        super().__init__(str(exc))
        self.exc = exc
        self.user = user
        self.recoverable = recoverable
        self.step = step


def user_traceback(exc: BaseException) -> str:
    """The traceback text with pack's (and importlib's) frames left out."""
    import traceback

    from pack.tracebacks import is_pack_file

    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    seen: set[int] = set()
    todo = [te]
    while todo:
        cur = todo.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        cur.stack = traceback.StackSummary.from_list(
            [f for f in cur.stack if not is_pack_file(f.filename)]
        )
        todo += [e for e in (cur.__cause__, cur.__context__) if e is not None]
    return "".join(te.format())


def _write_error(prefix: str, *, code: str, message: str, user: bool, recoverable: bool) -> None:
    import socket

    from flyteidl.core import errors_pb2, execution_pb2
    from google.protobuf.timestamp_pb2 import Timestamp

    from pack.packager.store import write_url

    ts = Timestamp()
    ts.GetCurrentTime()
    kind = errors_pb2.ContainerError
    doc = errors_pb2.ErrorDocument(
        error=kind(
            code=code,
            message=message,
            kind=kind.RECOVERABLE if recoverable else kind.NON_RECOVERABLE,
            origin=execution_pb2.ExecutionError.USER
            if user
            else execution_pb2.ExecutionError.SYSTEM,
            timestamp=ts,
            worker=socket.gethostname(),
        )
    )
    write_url(f"{prefix.rstrip('/')}/errors.pb", doc.SerializeToString())


def _step(step: str, fn: Callable[[], Any], *, user: bool, recoverable: bool = False) -> Any:
    try:
        return fn()
    except Exception as exc:
        raise Failure(exc, user=user, recoverable=recoverable, step=step) from exc


def _read_fetch_timing(env: Mapping[str, str]) -> dict[str, float]:
    parts = env.get(ENV_FETCH_TIMING, "").split(",")
    if len(parts) != 3:
        return {}
    try:
        start, fetch_start, fetch_end = (float(p) for p in parts)
    except ValueError:
        return {}
    return {"fast_execute_start": start, "fetch_start": fetch_start, "fetch_end": fetch_end}


def run_task(**args: Any) -> dict[str, float]:
    """Load, run, write outputs (`_run_task_in`'s arguments) in a working folder of the
    task's own (`pack-task-*`, downloaded inputs, File.new), removed however it ends:
    outputs are uploaded by then. Raises Failure; returns marks for timings.json."""
    import shutil
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="pack-task-"))
    try:
        return _run_task_in(work, **args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_task_in(
    work: Path,
    *,
    inputs_url: str,
    output_prefix: str,
    raw_prefix: str,
    resolver_name: str,
    module: str,
    name: str,
    env: Mapping[str, str],
    inputs_wait: float | None = None,
) -> dict[str, float]:
    import inspect

    from flyteidl.core.literals_pb2 import LiteralMap

    from pack.errors import StoreError
    from pack.launcher.context import context_from_env, reset_context, set_context
    from pack.launcher.errors import Recoverable
    from pack.launcher.outputs import named_outputs
    from pack.launcher.task_resolver import ResolverError, load_resolver
    from pack.launcher.types.engine import TypeContext, at, default_engine, type_name
    from pack.packager.arrival import read_url_on_arrival
    from pack.packager.store import write_url

    marks = {"execute_start": _STARTED, **_read_fetch_timing(env)}
    tctx = TypeContext(raw_output_prefix=raw_prefix, local_dir=work / "inputs")
    data = _step(
        "read inputs",
        lambda: read_url_on_arrival(inputs_url, bound=inputs_wait),
        user=False,
        recoverable=True,
    )
    # When inputs.pb was there: the wait for a late one (pack.packager.arrival) shows.
    marks["inputs_read"] = time.time()
    try:
        resolver = load_resolver(resolver_name)
    except ResolverError as exc:
        raise Failure(exc, user=False, recoverable=False, step="load resolver") from exc

    def load_task() -> Any:
        found = resolver(module, name)
        _ = found.interface  # checked on first use: a bad annotation is the user's error
        return found

    task = _step("load task", load_task, user=True)
    engine = default_engine()
    literals = _step("decode inputs", lambda: LiteralMap.FromString(data), user=False)
    kwargs = _step(
        "convert inputs",
        lambda: engine.to_python_map(literals, task.interface.inputs, tctx),
        user=False,
        recoverable=True,
    )
    ctx = context_from_env(env, working_dir=work, raw_output_prefix=raw_prefix)
    token = set_context(ctx)
    tabs: list[Any] | None = None
    marks["task_start"] = time.time()
    try:
        with _deck_tabs(task) as tabs, _driver_scope(env, ctx.execution_id, marks):
            result = task.fn(**kwargs)
            if inspect.iscoroutine(result):  # an `async def` workflow or task
                import asyncio

                result = asyncio.run(result)
    except Exception as exc:
        marks["task_end"] = time.time()
        _write_deck(tabs, output_prefix, task, literals, None, marks, error=user_traceback(exc))
        raise Failure(
            exc, user=True, recoverable=isinstance(exc, Recoverable), step="task"
        ) from exc
    finally:
        marks.setdefault("task_end", time.time())
        reset_context(token)
    outputs = task.interface.outputs
    try:
        values = named_outputs(result, task.interface.shape)
        several = len(outputs) > 1
        out = LiteralMap(
            literals={
                # The output's name only when there are several: `o0` would tell nothing.
                k: at(k, engine.to_literal, values[k], tp, tctx)
                if several
                else engine.to_literal(values[k], tp, tctx)
                for k, tp in outputs.items()
            }
        )
    except (StoreError, OSError) as exc:
        raise Failure(exc, user=False, recoverable=True, step="store outputs") from exc
    except Exception as exc:  # a value that does not match the declared return type
        # One line naming the annotation: pack's frames would tell the user nothing.
        declared = type_name(task.interface.shape.namedtuple or tuple)
        if task.interface.shape.kind == "tuple":
            declared = f"tuple[{', '.join(type_name(tp) for tp in outputs.values())}]"
        elif task.interface.shape.kind == "single":
            declared = type_name(next(iter(outputs.values())))
        wrong = TypeError(f"{module}.{name} returned a value that is not `-> {declared}`: {exc}")
        raise Failure(wrong, user=True, recoverable=False, step="convert outputs") from exc
    _step(
        "write outputs",
        lambda: write_url(f"{output_prefix.rstrip('/')}/outputs.pb", out.SerializeToString()),
        user=False,
        recoverable=True,
    )
    marks["outputs_written"] = time.time()
    _write_deck(tabs, output_prefix, task, literals, out, marks)
    return marks


@contextmanager
def _deck_tabs(task: Any) -> Iterator[list[Any] | None]:
    """The tabs a `@task(deck=True)` adds while it runs (pack.deck); None without a deck."""
    if not getattr(task, "deck", False):
        yield None
        return
    from pack.deck.deck import collecting

    with collecting() as tabs:
        yield tabs


def _write_deck(
    tabs: list[Any] | None,
    output_prefix: str,
    task: Any,
    inputs: Any,
    outputs: Any,
    marks: dict[str, float],
    *,
    error: str | None = None,
) -> None:
    """`<output prefix>/deck.html`: the task's tabs and the default ones."""
    if tabs is None:
        return
    from pack.deck.write import write_deck

    write_deck(
        output_prefix,
        title=f"{task.module}.{task.name}",
        inputs=inputs,
        outputs=outputs,
        marks=marks,
        tabs=tabs,
        error=error,
    )


@contextmanager
def _driver_scope(env: Mapping[str, str], parent: str, marks: dict[str, float]) -> Iterator[None]:
    """When the pod names a driver spec, task calls in the body become child runs
    (pack.launcher.workflow) through a driver built at the first call and closed at
    the end, which stops whatever children still run (a stop unwinds through here).
    `marks["made_calls"]`: 1.0 if the body called a task (a driver was built), else 0.0,
    so the client lists a run's calls only when there are some."""
    if "PACK_DRIVER_SPEC" not in env:
        marks["made_calls"] = 0.0
        yield
        return
    from pack.launcher.workflow.active import built_driver, driving

    def factory() -> Any:
        from pack.launcher.workflow.driver import driver_from_env

        return driver_from_env(env, parent)

    with driving(factory):
        try:
            yield
        finally:
            marks["made_calls"] = 0.0 if built_driver() is None else 1.0


def _write_timings(prefix: str, marks: dict[str, float]) -> None:
    import json

    from pack.packager.store import write_url

    try:
        write_url(f"{prefix.rstrip('/')}/timings.json", json.dumps(marks).encode())
    except Exception as exc:  # timings are a convenience; never fail a task over them
        print(f"pack-execute: cannot write timings.json: {exc}", file=sys.stderr)


def execute_status(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    echo: Callable[[str], object] | None = None,
    inputs_wait: float | None = None,
) -> int:
    """pack-execute's work, returning its exit code: 0, or EXIT_USER / EXIT_SYSTEM with
    errors.pb written and the error text handed to `echo` (default: stderr). A stop
    (Ctrl-C, SIGTERM) propagates: whoever stopped the task says why (a timeout, a cancel).
    inputs.pb is waited for up to `inputs_wait` seconds (pack.packager.arrival)."""
    head, rest = _split_command(argv)
    opts = _options(head, EXECUTE_OPTIONS)
    _require(opts, "--inputs", "--output-prefix", "--raw-output-data-prefix")
    if len(rest) != 4 or rest[0] != "task-module" or rest[2] != "task-name":
        raise UsageFailure("expected `-- task-module M task-name N` after the options")
    prefix = opts["--output-prefix"]
    try:
        marks = run_task(
            inputs_url=opts["--inputs"],
            output_prefix=prefix,
            raw_prefix=opts["--raw-output-data-prefix"],
            resolver_name=opts.get("--resolver", "default"),
            module=rest[1],
            name=rest[3],
            env=env,
            inputs_wait=inputs_wait,
        )
    except Failure as failure:
        import traceback  # a task that succeeds does without it

        exc = failure.exc
        text = user_traceback(exc) if failure.user else "".join(traceback.format_exception(exc))
        if not failure.user:
            text = f"pack could not {failure.step}: {exc}\n{text}"
        (echo or sys.stderr.write)(text)
        _report_error(
            prefix, type(exc).__name__, text, user=failure.user, recoverable=failure.recoverable
        )
        return EXIT_USER if failure.user else EXIT_SYSTEM
    _write_timings(prefix, {**marks, "execute_end": time.time()})
    return 0


def _report_error(prefix: str, code: str, text: str, *, user: bool, recoverable: bool) -> None:
    try:
        _write_error(prefix, code=code, message=text, user=user, recoverable=recoverable)
    except Exception as write_exc:
        print(f"pack-execute: cannot write errors.pb: {write_exc}", file=sys.stderr)


def execute(argv: Sequence[str]) -> NoReturn:
    from pack.launcher import logcapture

    use_pod_store_settings(os.environ)
    succeeded: list[bool] = []
    # The pod's token, out of the env before the task's code runs: no process of the
    # task can write the closing line, by accident or by running pack-execute itself.
    token = os.environ.pop(ENV_SAY_DONE, "")
    capture = logcapture.begin(os.environ)
    if token or capture is not None:
        _close_at_exit(succeeded, token, _output_prefix(argv) if capture is not None else None)
    code = execute_status(argv, os.environ)  # a stop propagates to _guard
    if code == 0:
        succeeded.append(True)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


def _output_prefix(argv: Sequence[str]) -> str | None:
    try:
        return _options(_split_command(argv)[0], EXECUTE_OPTIONS).get("--output-prefix")
    except UsageFailure:  # execute_status says so
        return None


def _close_at_exit(succeeded: list[bool], token: str, log_prefix: str | None) -> None:
    """At exit, once `succeeded` says so (outputs.pb is written by then): write DONE_LINE
    and the pod's `token`, then store the log captured in the pod (pack.launcher.logcapture)
    as pod-log.txt under `log_prefix`. Registered before the task's module is imported, so it
    runs after the task's own exit handlers (they run last-in, first-out) and after its
    non-daemon threads were joined (which comes before them): past this only the
    interpreter's teardown is left."""
    import atexit

    from pack.launcher import logcapture

    def close() -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # closed by the task: nothing of ours is pending
                pass
        log = logcapture.end()
        if not succeeded:
            return
        if token:
            time.sleep(DONE_SETTLE_SECONDS)
            try:
                os.write(1, f"{DONE_LINE} {token}\n".encode())
            except OSError:  # no stdout: the backend waits for the kubelet's report instead
                pass
        if log is not None and log_prefix:
            from pack.packager.store import write_url

            try:
                write_url(f"{log_prefix.rstrip('/')}/{logcapture.POD_LOG_NAME}", log)
            except Exception as exc:  # the backend waits for the kubelet's report instead
                print(f"pack-execute: cannot store the log: {exc}", file=sys.stderr)

    atexit.register(close)


def _guard(fn: Callable[[Sequence[str]], NoReturn], prog: str, argv: Sequence[str]) -> NoReturn:
    """Run `fn`, then end the process with its status as sys.exit would (exit handlers
    run, streams flushed, a live non-daemon thread joined) but without the interpreter's
    teardown: freeing the ~250 modules a task run loads took ~25 ms of every pod, after
    its outputs were written (pack.__main__.leave, as the CLI ends)."""
    from pack.__main__ import leave

    leave(_status(fn, prog, argv))


def _status(fn: Callable[[Sequence[str]], NoReturn], prog: str, argv: Sequence[str]) -> Any:
    """The sys.exit code `fn` ends with. Usage errors as one line; SIGINT/SIGTERM (a pod
    being deleted, the local backend stopping its task) unwind through the cleanup, then
    one line and 128 + signal. The signal handlers before are back when this returns."""
    from pack.interrupts import stop_on_signals

    try:
        with stop_on_signals() as stop:
            try:
                fn(argv)
            except UsageFailure as exc:
                print(f"{prog}: error: {exc}", file=sys.stderr)
                return EXIT_SYSTEM
            except KeyboardInterrupt:
                print(f"{prog}: {stop.word}", file=sys.stderr)
                return stop.exit_code
    except SystemExit as exc:
        return exc.code
    raise AssertionError(f"{prog} returned instead of exiting")  # fn is NoReturn


def fast_execute_main(argv: Sequence[str] | None = None) -> NoReturn:
    _guard(fast_execute, FAST_EXECUTE, sys.argv[1:] if argv is None else argv)


def execute_main(argv: Sequence[str] | None = None) -> NoReturn:
    _guard(execute, EXECUTE, sys.argv[1:] if argv is None else argv)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """`python -m pack.launcher.entrypoint pack-execute|pack-fast-execute ...`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in (FAST_EXECUTE, EXECUTE):
        print(
            f"usage: python -m pack.launcher.entrypoint {{{FAST_EXECUTE}|{EXECUTE}}} ...",
            file=sys.stderr,
        )
        sys.exit(EXIT_SYSTEM)
    if args[0] == FAST_EXECUTE:
        fast_execute_main(args[1:])
    execute_main(args[1:])


if __name__ == "__main__":
    main()
