"""The few core/v1 calls the kubernetes backend makes, without `CoreV1Api`.

Importing `kubernetes.client.CoreV1Api` (client 37: pydantic-validated wrappers of
every core/v1 operation) costs ~0.4 s, a large slice of a warm `pack run`. These
methods build the same requests through the configured `ApiClient` (same auth,
TLS, headers; `BearerToken` as the generated methods set it), deserialize into the
same models and raise the same `ApiException`s, with the call signatures the
backend and `kubernetes.watch.Watch` use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, V1Pod, V1PodList

_AUTH = ["BearerToken"]
_JSON = "application/json"


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
        types = {"2XX": response_type} if response_type else {}
        return self.api_client.response_deserialize(response, types).data

    @staticmethod
    def _pods(namespace: str) -> str:
        return f"/api/v1/namespaces/{_quote(namespace)}/pods"

    @staticmethod
    def _secrets(namespace: str) -> str:
        return f"/api/v1/namespaces/{_quote(namespace)}/secrets"

    # --- pods ---------------------------------------------------------------------------

    def create_namespaced_pod(self, namespace: str, body: Any) -> V1Pod:
        return self._call("POST", self._pods(namespace), body=body, response_type="V1Pod")  # type: ignore[no-any-return]

    def read_namespaced_pod(self, name: str, namespace: str) -> V1Pod:
        return self._call(  # type: ignore[no-any-return]
            "GET", f"{self._pods(namespace)}/{_quote(name)}", response_type="V1Pod"
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
    ) -> V1PodList:
        """`kubernetes.watch.Watch().stream` calls this with watch=True and
        _preload_content=False and reads the item type from the return annotation.

        :rtype: V1PodList
        """
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
            response_type="V1PodList",
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
        return self._call("POST", self._secrets(namespace), body=body, response_type="V1Secret")

    def patch_namespaced_secret(self, name: str, namespace: str, body: Any) -> Any:
        return self._call(
            "PATCH",
            f"{self._secrets(namespace)}/{_quote(name)}",
            body=body,
            content_type="application/strategic-merge-patch+json",
            response_type="V1Secret",
        )

    def delete_namespaced_secret(self, name: str, namespace: str) -> None:
        self._call("DELETE", f"{self._secrets(namespace)}/{_quote(name)}")

    def list_namespaced_secret(self, namespace: str, *, label_selector: str) -> Any:
        return self._call(
            "GET",
            self._secrets(namespace),
            query=[("labelSelector", label_selector)],
            response_type="V1SecretList",
        )


def _quote(segment: str) -> str:
    from urllib.parse import quote

    return quote(str(segment), safe="")
