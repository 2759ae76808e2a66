"""The few core/v1 calls the kubernetes backend makes, on a `kubehttp` transport.

Bodies go as manifest dicts and answers come back as `PodView`s over their JSON
(the client models' attribute names without building the models: a V1Pod's
pydantic classes cost ~0.4 s of a process's first pod, and each watch event's
validation more). `watch_pods` reads the API's watch stream (one JSON event per
line) itself. Errors: `kubehttp.ApiError` (an answer outside 2xx; a watch's ERROR
event with its Status code) and `kubehttp.ApiUnreachable` (no answer).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from typing import Any

from pack.launcher.backends.kubehttp import ApiError, ApiUnreachable, Stream, Transport
from pack.launcher.backends.podwatch import PodView

WATCH_READ_TIMEOUT = 30.0  # seconds past the server-side timeout before a watch is dead


class PodApi:
    """create/read/list/watch/delete pods, read a pod's log, create/patch/delete secrets."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def _json(self, method: str, path: str, **kwargs: Any) -> PodView:
        data = self.transport.request(method, path, **kwargs)
        try:
            return PodView(json.loads(data or b"{}"))
        except ValueError:
            raise ApiUnreachable(f"{method} {path}: the answer is not JSON") from None

    @staticmethod
    def _pods(namespace: str) -> str:
        return f"/api/v1/namespaces/{_quote(namespace)}/pods"

    @staticmethod
    def _secrets(namespace: str) -> str:
        return f"/api/v1/namespaces/{_quote(namespace)}/secrets"

    # --- pods ---------------------------------------------------------------------------

    def create_namespaced_pod(self, namespace: str, body: Mapping[str, Any]) -> PodView:
        return self._json("POST", self._pods(namespace), body=body)

    def read_namespaced_pod(self, name: str, namespace: str) -> PodView:
        return self._json("GET", f"{self._pods(namespace)}/{_quote(name)}")

    def delete_namespaced_pod(
        self, name: str, namespace: str, *, grace_period_seconds: int | None = None
    ) -> None:
        query = (
            [] if grace_period_seconds is None else [("gracePeriodSeconds", grace_period_seconds)]
        )
        self.transport.request("DELETE", f"{self._pods(namespace)}/{_quote(name)}", query=query)

    def list_namespaced_pod(
        self,
        namespace: str,
        *,
        field_selector: str | None = None,
        label_selector: str | None = None,
    ) -> PodView:
        return self._json(
            "GET", self._pods(namespace), query=_selectors(field_selector, label_selector)
        )

    def watch_pods(
        self,
        namespace: str,
        *,
        resource_version: str | None,
        timeout_seconds: int,
        field_selector: str | None = None,
        label_selector: str | None = None,
        on_stream: Callable[[Stream], None] | None = None,
    ) -> Generator[dict[str, Any], None, None]:
        """The watch's events (`{"type": ..., "object": {...}}`) from `resource_version`
        until the server ends the watch (after `timeout_seconds`) or the stream breaks
        (ApiUnreachable). An ERROR event raises its status (410: the version is too old).
        `on_stream` gets the open stream, for another thread to `abort` it."""
        query = _selectors(field_selector, label_selector)
        query += [("watch", True), ("timeoutSeconds", timeout_seconds)]
        if resource_version is not None:
            query.append(("resourceVersion", resource_version))
        stream = self.transport.stream(
            self._pods(namespace), query, timeout=timeout_seconds + WATCH_READ_TIMEOUT
        )
        try:
            if on_stream is not None:
                on_stream(stream)
            for line in stream_lines(stream):
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    raise ApiUnreachable("the watch sent a line that is not JSON") from None
                if event.get("type") == "ERROR":
                    status = event.get("object") or {}
                    raise ApiError(
                        int(status.get("code") or 500),
                        str(status.get("reason") or "Error"),
                        json.dumps(status),
                    )
                yield event
        finally:
            stream.release_conn()

    def read_namespaced_pod_log(
        self,
        name: str,
        namespace: str,
        *,
        container: str | None = None,
        follow: bool = False,
    ) -> Stream:
        """The log as a stream (follow: until the container ends)."""
        query: list[tuple[str, Any]] = []
        if container is not None:
            query.append(("container", container))
        if follow:
            query.append(("follow", True))
        return self.transport.stream(
            f"{self._pods(namespace)}/{_quote(name)}/log",
            query,
            accept="text/plain, application/json",
            timeout=None if follow else 60.0,
        )

    # --- secrets ------------------------------------------------------------------------

    def create_namespaced_secret(self, namespace: str, body: Mapping[str, Any]) -> PodView:
        return self._json("POST", self._secrets(namespace), body=body)

    def patch_namespaced_secret(
        self, name: str, namespace: str, body: Mapping[str, Any]
    ) -> PodView:
        return self._json(
            "PATCH",
            f"{self._secrets(namespace)}/{_quote(name)}",
            body=body,
            content_type="application/strategic-merge-patch+json",
        )

    def delete_namespaced_secret(self, name: str, namespace: str) -> None:
        self.transport.request("DELETE", f"{self._secrets(namespace)}/{_quote(name)}")

    def list_namespaced_secret(self, namespace: str, *, label_selector: str) -> PodView:
        return self._json(
            "GET", self._secrets(namespace), query=[("labelSelector", label_selector)]
        )

    def close(self) -> None:
        self.transport.close()


def _selectors(field: str | None, label: str | None) -> list[tuple[str, Any]]:
    query: list[tuple[str, Any]] = []
    if field is not None:
        query.append(("fieldSelector", field))
    if label is not None:
        query.append(("labelSelector", label))
    return query


def stream_lines(stream: Stream, chunk_size: int = 65536) -> Iterator[bytes]:
    """A streaming answer split into lines as they come (the last one may lack its newline)."""
    return split_lines(stream.stream(chunk_size))


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """`chunks` of bytes as lines, without their newlines (the last one may lack it)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from lines
    if pending:
        yield pending


def _quote(segment: str) -> str:
    from urllib.parse import quote

    return quote(str(segment), safe="")
