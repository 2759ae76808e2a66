"""One watch for all the pods of a workflow's driver, instead of one per pod.

A map_task over a hundred elements would otherwise hold a hundred watch requests
open and have the client deserialize every event of each into the client's
(pydantic) models. `PodWatcher` lists and watches the pods matching one label
selector in a thread, keeps the latest state of each as a `PodView` over the
event's JSON (the attribute names of the client's models, without building them)
and wakes the callers waiting for a pod to change. After a disconnect or a server
timeout it watches again from the last version; after 410 Gone it lists again.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Mapping
from typing import Any

WATCH_SECONDS = 60
# Keys whose values are string maps, not objects (labels, resources, selectors).
_MAPS = {"labels", "annotations", "limits", "requests", "node_selector", "data", "capacity"}
_CAMEL: dict[str, str] = {}


def _camel(name: str) -> str:
    found = _CAMEL.get(name)
    if found is None:
        head, *rest = name.split("_")
        found = head + "".join(part[:1].upper() + part[1:] for part in rest)
        _CAMEL[name] = found
    return found


def _time(text: str) -> dt.datetime | str:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text


class PodView:
    """Read-only attribute access to a Kubernetes object's JSON with the client models'
    snake_case names (`pod.status.container_statuses[0].state.terminated.exit_code`);
    an absent field is None, as on a model; `*_at` / `*_timestamp` fields are datetimes."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _wrap(name, self._data.get(_camel(name)))

    def to_dict(self) -> Mapping[str, Any]:
        return self._data


def _wrap(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _MAPS and isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Mapping):
        return PodView(value)
    if isinstance(value, list):
        return [PodView(v) if isinstance(v, Mapping) else v for v in value]
    if isinstance(value, str) and (name.endswith("_at") or name.endswith("_timestamp")):
        return _time(value)
    return value


class PodWatcher:
    """The latest state of every pod matching `selector` in `namespace`."""

    def __init__(self, api: Any, namespace: str, selector: str) -> None:
        self.api = api
        self.namespace = namespace
        self.selector = selector
        self._latest: dict[str, Any] = {}
        self._deleted: set[str] = set()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pack-pod-watch", daemon=True)
        self._thread.start()

    # --- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        from pack.launcher.backends.kubehttp import ApiError

        version: str | None = None
        failures = 0
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._relist()
                events = self.api.watch_pods(
                    self.namespace,
                    label_selector=self.selector,
                    resource_version=version,
                    timeout_seconds=WATCH_SECONDS,
                )
                try:
                    for event in events:
                        if self._stop.is_set():
                            break
                        obj = event.get("object")
                        if not isinstance(obj, Mapping) or "metadata" not in obj:
                            continue
                        version = obj["metadata"].get("resourceVersion") or version
                        self._update(event.get("type", ""), obj)
                finally:
                    events.close()
                failures = 0
            except ApiError as exc:
                if exc.status == 410:  # too old: list again
                    version = None
                    continue
                failures += 1
            except Exception:  # noqa: BLE001 - a disconnect mid-stream: watch again
                failures += 1
            if failures:
                time.sleep(min(0.2 * 2**failures, 5.0))

    def _relist(self) -> str | None:
        listing = self.api.list_namespaced_pod(self.namespace, label_selector=self.selector)
        data = listing.to_dict() if isinstance(listing, PodView) else listing
        for item in data.get("items") or []:
            self._update("ADDED", item)
        return (data.get("metadata") or {}).get("resourceVersion")

    def _update(self, kind: str, obj: Mapping[str, Any]) -> None:
        name = obj["metadata"].get("name")
        with self._cond:
            if kind == "DELETED":
                self._deleted.add(name)
            else:
                self._latest[name] = PodView(obj)
            self._cond.notify_all()

    # --- callers -------------------------------------------------------------------------

    def seed(self, name: str, pod: Any) -> None:
        """What the create returned, until the watch reports the pod."""
        with self._cond:
            self._latest.setdefault(name, pod)

    def next(
        self,
        name: str,
        seen: Any,
        timeout: float | None,
        until: threading.Event | None = None,
    ) -> tuple[Any, bool]:
        """The pod's state once it is not `seen` any more (or `timeout` passed, or `until`
        was set and `wake` called), and whether it was deleted."""
        with self._cond:
            self._cond.wait_for(
                lambda: (
                    name in self._deleted
                    or self._latest.get(name) is not seen
                    or (until is not None and until.is_set())
                ),
                timeout=timeout,
            )
            return self._latest.get(name, seen), name in self._deleted

    def wake(self) -> None:
        """Wake the callers waiting in `next` to look at their `until` events."""
        with self._cond:
            self._cond.notify_all()

    def forget(self, name: str) -> None:
        with self._cond:
            self._latest.pop(name, None)
            self._deleted.discard(name)

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
