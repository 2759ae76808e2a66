"""`@task`: a typed Python function plus how to run it in a pod.

Options (resource quantities, accelerator, retries, timeout, env) are checked at
decoration time, so a mistake surfaces when the file is imported, not minutes later in
a pod. The signature (type hints, supported types) is read and checked when the task is
first used (run, rendered, its options listed, loaded in the pod), naming the task and
the type then: one unsupported annotation leaves the other tasks in its file usable.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, overload

from pack.errors import TaskError
from pack.launcher.outputs import OutputShape, output_shape
from pack.launcher.types.engine import UnsupportedType, default_engine

if TYPE_CHECKING:
    from pack.launcher.accelerators import GPU
    from pack.launcher.podspec import PodTemplate
    from pack.launcher.resources import Resources

_ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*\Z"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Interface:
    """Typed inputs (in signature order), their defaults, and typed outputs."""

    inputs: dict[str, Any]
    defaults: dict[str, Any]
    outputs: dict[str, Any]
    # How the outputs come back to a caller (one value, a tuple, a NamedTuple, nothing).
    shape: OutputShape = OutputShape("none", {})


def interface_of(fn: Callable[..., Any], task_name: str) -> Interface:
    """Read and check a function's signature; TaskError names the offending parameter."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # a NameError in a string annotation, for instance
        raise TaskError(f"task {task_name}: cannot resolve type hints: {exc}") from None
    sig = inspect.signature(fn)
    engine = default_engine()
    inputs: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for name, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise TaskError(
                f"task {task_name}: parameter {name!r}: *args, **kwargs and positional-only "
                "parameters cannot be passed as named inputs"
            )
        if name not in hints:
            raise TaskError(
                f"task {task_name}: parameter {name!r} has no type hint",
                hint=f"annotate it, e.g. `{name}: int`",
            )
        try:
            engine.check(hints[name])
        except UnsupportedType as exc:
            raise TaskError(f"task {task_name}: parameter {name!r}: {exc}") from None
        inputs[name] = hints[name]
        if param.default is not param.empty:
            defaults[name] = param.default
    if "return" not in hints:
        raise TaskError(
            f"task {task_name}: the return value has no type hint",
            hint="annotate it, e.g. `-> float`, or `-> None` when the task returns nothing",
        )
    try:
        shape = output_shape(hints["return"])
    except TypeError as exc:
        raise TaskError(f"task {task_name}: return value: {exc}") from None
    for name, tp in shape.types.items():
        try:
            engine.check(tp)
        except UnsupportedType as exc:
            where = "return value" if shape.kind == "single" else f"output {name!r}"
            raise TaskError(f"task {task_name}: {where}: {exc}") from None
    return Interface(inputs=inputs, defaults=defaults, outputs=dict(shape.types), shape=shape)


def _timeout_seconds(name: str, value: int | float | dt.timedelta | None) -> int | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
        raise TaskError(
            f"task {name}: timeout {value!r} must be a positive number of seconds or a timedelta"
        )
    return max(1, int(seconds))


def _check_env(name: str, env: Mapping[str, str] | None) -> dict[str, str]:
    import re

    out: dict[str, str] = {}
    for key, value in (env or {}).items():
        if not isinstance(key, str) or not re.match(_ENV_NAME, key):
            raise TaskError(f"task {name}: env name {key!r} is not a valid variable name")
        if not isinstance(value, str):
            raise TaskError(f"task {name}: env {key} must be a string, got {type(value).__name__}")
        out[key] = value
    return out


class Task:
    """A decorated function: still callable as itself, plus what a pod needs to run it."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        image: Any = None,
        requests: Resources | None = None,
        limits: Resources | None = None,
        accelerator: GPU | str | None = None,
        retries: int = 0,
        timeout: int | float | dt.timedelta | None = None,
        env: Mapping[str, str] | None = None,
        pod_template: PodTemplate | None = None,
        deck: bool = False,
        cache: bool = False,
        cache_version: str | None = None,
        name: str | None = None,
        module: str | None = None,
        interface: Interface | None = None,
    ) -> None:
        self.fn = fn
        self.name: str = name or fn.__name__
        self.module: str = module or fn.__module__
        functools.update_wrapper(self, fn)
        if interface is not None:  # given (a ShellTask's), not read from a signature
            self.__dict__["interface"] = interface
        if image is not None and not isinstance(image, str) and not hasattr(image, "base_dir"):
            raise TaskError(
                f"task {self.name}: image must be an ImageSpec or an image string, got {image!r}"
            )
        if isinstance(image, str) and not image.strip():
            raise TaskError(f"task {self.name}: image must not be empty")
        self.image = image
        # Resources and accelerators are imported only by a task that names them: a
        # plain task's pod does without (~3.5 ms of every pack-execute).
        if requests is not None or limits is not None:
            from pack.launcher.resources import Resources

            for label, res in (("requests", requests), ("limits", limits)):
                if res is not None and not isinstance(res, Resources):
                    raise TaskError(
                        f"task {self.name}: {label} must be pack.Resources, got {res!r}"
                    )
        self.requests = requests
        self.limits = limits
        self.accelerator = None
        if accelerator is not None:
            from pack.launcher.accelerators import parse_accelerator

            self.accelerator = parse_accelerator(accelerator)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise TaskError(f"task {self.name}: retries {retries!r} must be a whole number >= 0")
        self.retries = retries
        self.timeout_seconds = _timeout_seconds(self.name, timeout)
        self.env = _check_env(self.name, env)
        if pod_template is not None:
            from pack.launcher.podspec import PodTemplate

            if not isinstance(pod_template, PodTemplate):
                raise TaskError(
                    f"task {self.name}: pod_template must be pack.launcher.podspec.PodTemplate"
                )
        self.pod_template = pod_template
        if not isinstance(deck, bool):
            raise TaskError(f"task {self.name}: deck must be True or False, got {deck!r}")
        # Write deck.html (pack.deck: Deck tabs plus inputs, outputs, timings) per attempt.
        self.deck = deck
        self.gpu_count = self._gpu_count()
        if not isinstance(cache, bool):
            raise TaskError(f"task {self.name}: cache must be True or False, got {cache!r}")
        if cache_version is not None and (not isinstance(cache_version, str) or not cache_version):
            raise TaskError(
                f"task {self.name}: cache_version must be a non-empty string, got {cache_version!r}"
            )
        if cache_version is not None and not cache:
            raise TaskError(
                f"task {self.name}: cache_version={cache_version!r} without cache=True",
                hint="add cache=True, or drop cache_version",
            )
        self.cache = cache
        self.cache_version = cache_version or ""

    @property
    def is_workflow(self) -> bool:
        """A workflow's body runs inline when a driver calls it (see pack.launcher.workflow)."""
        return False

    @property
    def qualified_name(self) -> str:
        """`module.name`: what pods, records and cache keys call the task."""
        return f"{self.module}.{self.name}"

    @functools.cached_property
    def interface(self) -> Interface:
        """The typed signature, checked on first use; TaskError names the task and type."""
        return interface_of(self.fn, self.name)

    def _gpu_count(self) -> int | None:
        req = self.requests.gpu_count if self.requests else None
        lim = self.limits.gpu_count if self.limits else None
        if req is not None and lim is not None and req != lim:
            raise TaskError(
                f"task {self.name}: GPU requests ({req}) and limits ({lim}) differ; "
                "Kubernetes needs them equal"
            )
        count = lim if lim is not None else req
        if count is None and self.accelerator is not None:
            count = 1
        return count

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Outside a driver: the function itself. Inside one (a workflow, or a task
        that calls tasks, running under pack): a child run with this task's image,
        resources, retries, timeout and pod template; returns its outputs (an
        awaitable inside a running event loop)."""
        from pack.launcher.workflow.active import current_driver

        driver = current_driver()
        if driver is None:
            return self.fn(*args, **kwargs)
        return driver.call(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<pack task {self.module}.{self.name}>"


TASK_OPTIONS = (
    "image",
    "requests",
    "limits",
    "accelerator",
    "retries",
    "timeout",
    "env",
    "pod_template",
    "deck",
    "cache",
    "cache_version",
)


def check_options(decorator: str, options: Mapping[str, Any], valid: Sequence[str]) -> None:
    """A decorator option it does not know is an error naming it, never ignored."""
    for key in options:
        if key not in valid:
            raise TaskError(f"{decorator}: unknown option {key!r}; valid: {', '.join(valid)}")


@overload
def task(fn: Callable[..., Any], /) -> Task: ...


@overload
def task(
    *,
    image: Any = None,
    requests: Resources | None = None,
    limits: Resources | None = None,
    accelerator: GPU | str | None = None,
    retries: int = 0,
    timeout: int | float | dt.timedelta | None = None,
    env: Mapping[str, str] | None = None,
    pod_template: PodTemplate | None = None,
    deck: bool = False,
    cache: bool = False,
    cache_version: str | None = None,
) -> Callable[[Callable[..., Any]], Task]: ...


def task(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Decorate a function as a task, bare (`@task`) or with options (`@task(retries=2)`)."""
    if fn is not None:
        if options or not callable(fn):
            raise TaskError("@task takes keyword options only, e.g. @task(retries=2)")
        return Task(fn)
    check_options("@task", options, TASK_OPTIONS)

    def decorate(f: Callable[..., Any]) -> Task:
        return Task(f, **options)

    return decorate
