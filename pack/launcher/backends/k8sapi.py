"""The few core/v1 calls the kubernetes backend makes, without `CoreV1Api`.

Importing `kubernetes.client.CoreV1Api` (client 37: pydantic-validated wrappers of
every core/v1 operation) costs ~0.4 s, a large slice of a warm `pack run`. These
methods build the same requests through the configured `ApiClient` (same auth,
TLS, headers; `BearerToken` as the generated methods set it) and raise the same
`ApiException`s, with the call signatures the backend and `kubernetes.watch.Watch`
use. Bodies go as manifest dicts and answers come back as `PodView`s over their
JSON (the models' attribute names, without building the models: a V1Pod's pydantic
classes cost ~0.4 s of a process's first pod, and each watch event's validation more).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pack.launcher.backends.podwatch import PodView

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

_AUTH = ["BearerToken"]
_JSON = "application/json"
# Answers read as PodViews over their JSON: building the client's (pydantic) models for
# a V1Pod costs ~0.4 s of a process's first pod.
VIEW = "view"


class PodApi:
    """create/read/list/delete pods, read a pod's log, create/patch/delete secrets."""

    def __init__(self, api_client: ApiClient) -> None:
        self.api_client = api_client

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str = _JSON,
        response_type: str | None = None,
        preload_content: bool = True,
        accept: str = _JSON,
    ) -> Any:
        headers: dict[str, Any] = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        request = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=_AUTH,
        )
        response = self.api_client.call_api(*request)
        if not preload_content:
            if not 200 <= response.status <= 299:
                from kubernetes.client.exceptions import ApiException

                body_text = response.read().decode("utf-8", errors="replace")
                raise ApiException.from_response(http_resp=response, body=body_text, data=None)
            return response.response  # the raw urllib3 response, for streaming
        response.read()
        if response_type == VIEW:
            if not 200 <= response.status <= 299:
                self.api_client.response_deserialize(response, {})  # raises ApiException
            return PodView(json.loads(response.data or b"{}"))
        types = {"2XX": response_type} if response_type else {}
        return self.api_client.response_deserialize(response, types).data

    @staticmethod
    def _pods(namespace: str) -> str:
        return f"/api/v1/namespaces/{_quote(namespace)}/pods"

    @staticmethod
    def _secrets(namespace: str) -> str:
        return f"/api/v1/namespaces/{_quote(namespace)}/secrets"

    # --- pods ---------------------------------------------------------------------------

    def create_namespaced_pod(self, namespace: str, body: Any) -> PodView:
        """`body`: the manifest dict. The answer is a PodView over the API's JSON."""
        return self._call("POST", self._pods(namespace), body=body, response_type=VIEW)  # type: ignore[no-any-return]

    def read_namespaced_pod(self, name: str, namespace: str) -> PodView:
        return self._call(  # type: ignore[no-any-return]
            "GET", f"{self._pods(namespace)}/{_quote(name)}", response_type=VIEW
        )

    def delete_namespaced_pod(
        self, name: str, namespace: str, *, grace_period_seconds: int | None = None
    ) -> None:
        query = (
            [] if grace_period_seconds is None else [("gracePeriodSeconds", grace_period_seconds)]
        )
        self._call("DELETE", f"{self._pods(namespace)}/{_quote(name)}", query=query)

    def list_namespaced_pod(
        self,
        namespace: str,
        *,
        field_selector: str | None = None,
        label_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
        watch: bool | None = None,
        _preload_content: bool = True,
    ) -> Any:
        """A PodView of the list; `kubernetes.watch.Watch().stream` calls this with
        watch=True and _preload_content=False and, finding no return type here, hands
        each event's object back as its JSON (the backend wraps it in a PodView)."""
        query: list[tuple[str, Any]] = []
        if field_selector is not None:
            query.append(("fieldSelector", field_selector))
        if label_selector is not None:
            query.append(("labelSelector", label_selector))
        if resource_version is not None:
            query.append(("resourceVersion", resource_version))
        if timeout_seconds is not None:
            query.append(("timeoutSeconds", timeout_seconds))
        if watch is not None:
            query.append(("watch", watch))
        return self._call(  # type: ignore[no-any-return]
            "GET",
            self._pods(namespace),
            query=query,
            response_type=VIEW,
            preload_content=_preload_content,
        )

    def read_namespaced_pod_log(
        self,
        name: str,
        namespace: str,
        *,
        container: str | None = None,
        follow: bool | None = None,
        _preload_content: bool = True,
    ) -> Any:
        query: list[tuple[str, Any]] = []
        if container is not None:
            query.append(("container", container))
        if follow is not None:
            query.append(("follow", follow))
        return self._call(
            "GET",
            f"{self._pods(namespace)}/{_quote(name)}/log",
            query=query,
            response_type="str",
            preload_content=_preload_content,
            accept="text/plain, application/json",
        )

    # --- secrets ------------------------------------------------------------------------

    def create_namespaced_secret(self, namespace: str, body: Any) -> Any:
        return self._call("POST", self._secrets(namespace), body=body, response_type=VIEW)

    def patch_namespaced_secret(self, name: str, namespace: str, body: Any) -> Any:
        return self._call(
            "PATCH",
            f"{self._secrets(namespace)}/{_quote(name)}",
            body=body,
            content_type="application/strategic-merge-patch+json",
            response_type=VIEW,
        )

    def delete_namespaced_secret(self, name: str, namespace: str) -> None:
        self._call("DELETE", f"{self._secrets(namespace)}/{_quote(name)}")

    def list_namespaced_secret(self, namespace: str, *, label_selector: str) -> Any:
        return self._call(
            "GET",
            self._secrets(namespace),
            query=[("labelSelector", label_selector)],
            response_type=VIEW,
        )


def _quote(segment: str) -> str:
    from urllib.parse import quote

    return quote(str(segment), safe="")
