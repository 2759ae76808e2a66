"""Pod rendering: task + image + bundle + execution -> a pod manifest dict.

Pure: no I/O, no clock. The pod is a plain, JSON-shaped manifest dict (camelCase
keys, as the Kubernetes API and `ApiClient().sanitize_for_serialization` write
them) so templates merge as data and the local backend never needs the client.
Layers, lowest first: a cluster default template (`RenderOptions.base_template`),
the task's `pod_template`, then the generated pod, whose image, args, resources and
pack env win while the lower layers' volumes, volumeMounts, env, sidecars,
tolerations and so on are kept.

`kubernetes` is imported only to build a `V1Pod` (`render_pod`, `from_dict`: the
kubernetes backend's create call) or to convert client models a user passed in
(`pod_template=` with `V1PodSpec`, ...; the user has imported the client already).
Importing `kubernetes` costs ~0.5 s, which is most of a local `pack run`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pack.launcher.accelerators import DEFAULT_NODE_LABEL, scheduling
from pack.launcher.context import ENV_ATTEMPT, ENV_DOMAIN, ENV_EXECUTION_ID, ENV_PROJECT, ENV_TASK
from pack.launcher.execution import Execution
from pack.launcher.resources import GPU_RESOURCE
from pack.packager.store import ENV_NETWORK_TIMEOUT, ENV_S3_ENDPOINT

if TYPE_CHECKING:
    from kubernetes.client import V1Pod

    from pack.launcher.task import Task

PRIMARY_CONTAINER = "primary"
DEFAULT_RESOLVER = "default"
# The container's working dir when a bundle is shipped: /tmp is writable for any user
# in any image; the bundle is extracted into DEST_DIR below it.
BUNDLE_WORKING_DIR = "/tmp/pack"
DEST_DIR = "code"
FAST_EXECUTE = "pack-fast-execute"
EXECUTE = "pack-execute"

LABEL_PREFIX = "pack.dev/"
LABEL_EXECUTION = LABEL_PREFIX + "execution-id"
LABEL_TASK = LABEL_PREFIX + "task"
LABEL_ATTEMPT = LABEL_PREFIX + "attempt"
LABEL_SPEC = LABEL_PREFIX + "spec-digest"
LABEL_BUNDLE = LABEL_PREFIX + "bundle-digest"
# A workflow's children: the run that started them, and the run the user started.
LABEL_PARENT = LABEL_PREFIX + "parent-execution"
LABEL_ROOT = LABEL_PREFIX + "root-execution"
# Label values are at most 63 characters, so a sha256 (64 hex) is shortened there;
# the full digests are in the annotations of the same names.
LABEL_DIGEST_CHARS = 32

# A pod as a JSON-shaped manifest dict (apiVersion, kind, metadata, spec).
Manifest = dict[str, Any]

_LABEL_VALUE_BAD = re.compile(r"[^A-Za-z0-9_.-]+")
_DNS_BAD = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class PodTemplate:
    """Labels, annotations and a pod spec (a `V1PodSpec` or a camelCase dict) to merge in.

    The container named `primary_container_name` in `pod_spec` is merged with the
    generated one; other containers (sidecars) are kept as they are.
    """

    primary_container_name: str = PRIMARY_CONTAINER
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    pod_spec: Any = None

    def to_manifest(self) -> dict[str, Any]:
        spec = None if self.pod_spec is None else to_dict(self.pod_spec)
        manifest: dict[str, Any] = {"metadata": {}}
        if self.labels:
            manifest["metadata"]["labels"] = dict(self.labels)
        if self.annotations:
            manifest["metadata"]["annotations"] = dict(self.annotations)
        if spec:
            manifest["spec"] = spec
        return manifest


@dataclass(frozen=True)
class BundleInfo:
    """What the pod needs of a published bundle (a packager BundleRef fits)."""

    url: str
    digest: str | None = None


@dataclass(frozen=True)
class RenderOptions:
    resolver: str = DEFAULT_RESOLVER
    dest_dir: str = DEST_DIR
    working_dir: str = BUNDLE_WORKING_DIR
    accelerator_label: str = DEFAULT_NODE_LABEL
    namespace: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # The S3 endpoint the client uses, handed to the pod's entrypoints (None: boto3's settings).
    s3_endpoint_url: str | None = None
    # The client's network timeout (seconds), likewise (None: the clients' defaults).
    network_timeout: float | None = None
    # A cluster default (PodTemplate, V1Pod or manifest dict), merged under the task's template.
    base_template: Any = None


# --- helpers ------------------------------------------------------------------------------


def label_value(text: str) -> str:
    """A valid label value: [A-Za-z0-9_.-], at most 63 chars, alphanumeric at both ends."""
    value = _LABEL_VALUE_BAD.sub("-", text)[:63]
    return value.strip("-_.")


def dns_label(text: str, limit: int = 63) -> str:
    value = _DNS_BAD.sub("-", text.lower().replace("_", "-"))[:limit]
    return value.strip("-") or "task"


def pod_name(task_name: str, execution: Execution) -> str:
    suffix = f"-{execution.id}-{execution.attempt}"
    return dns_label(task_name, 63 - len(suffix)) + suffix


def _digest_text(digest: Any) -> str | None:
    return None if digest is None else str(digest)


def _digest_hex(digest: str) -> str:
    return digest.partition(":")[2] or digest


def execute_args(
    task_module: str, task_name: str, execution: Execution, resolver: str = DEFAULT_RESOLVER
) -> list[str]:
    return [
        EXECUTE,
        "--inputs",
        execution.inputs_url,
        "--output-prefix",
        execution.output_prefix,
        "--raw-output-data-prefix",
        execution.raw_output_prefix,
        "--resolver",
        resolver,
        "--",
        "task-module",
        task_module,
        "task-name",
        task_name,
    ]


def container_args(
    task_module: str,
    task_name: str,
    execution: Execution,
    bundle: BundleInfo | None,
    options: RenderOptions = RenderOptions(),
) -> list[str]:
    """`pack-fast-execute ... -- pack-execute ...`, or just `pack-execute ...` without a bundle."""
    run = execute_args(task_module, task_name, execution, options.resolver)
    if bundle is None:
        return run
    # The digest is in the bundle URL itself (bundles are named by their tree digest).
    fetch = [FAST_EXECUTE, "--additional-distribution", bundle.url]
    return [*fetch, "--dest-dir", options.dest_dir, "--", *run]


def _env_list(env: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in env.items()]


# --- merging ------------------------------------------------------------------------------

_REPLACED_LISTS = {"args", "command"}


def _named(items: list[Any]) -> bool:
    return all(isinstance(i, Mapping) and "name" in i for i in items)


def _merge_list(key: str, lower: list[Any], upper: list[Any]) -> list[Any]:
    if key in _REPLACED_LISTS or not lower:
        return copy.deepcopy(upper)
    if lower and upper and _named(lower) and _named(upper):
        merged = {i["name"]: copy.deepcopy(i) for i in lower}
        for item in upper:
            name = item["name"]
            merged[name] = (
                merge_manifests(merged[name], item) if name in merged else copy.deepcopy(item)
            )
        return list(merged.values())
    out = copy.deepcopy(lower)
    out += [copy.deepcopy(i) for i in upper if i not in lower]
    return out


def merge_manifests(lower: Mapping[str, Any], upper: Mapping[str, Any]) -> dict[str, Any]:
    """Pure: `upper` over `lower`. Mappings merge key by key, lists of named objects
    (containers, volumes, env, volumeMounts, ports) merge by name, `args`/`command`
    are replaced, other lists are concatenated without duplicates, scalars: upper wins."""
    out = copy.deepcopy(dict(lower))
    for key, value in upper.items():
        if value is None:
            continue
        if key in out and isinstance(out[key], Mapping) and isinstance(value, Mapping):
            out[key] = merge_manifests(out[key], value)
        elif key in out and isinstance(out[key], list) and isinstance(value, list):
            out[key] = _merge_list(key, out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _as_manifest(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, PodTemplate):
        return obj.to_manifest()
    return to_dict(obj)


def merge_pod_template(base: Any, template: Any) -> Manifest:
    """`template` (PodTemplate, V1Pod or manifest dict) merged over `base` (same kinds),
    as a manifest dict (`from_dict` makes a `V1Pod` of it)."""
    return merge_manifests(_as_manifest(base), _as_manifest(template))


# --- rendering ----------------------------------------------------------------------------


def render_manifest(
    task: Task,
    *,
    image: str,
    execution: Execution,
    bundle: BundleInfo | None = None,
    spec_digest: Any = None,
    options: RenderOptions = RenderOptions(),
) -> Manifest:
    """Pure: the pod as a manifest dict (apiVersion, kind, metadata, spec); imports
    `kubernetes` only to convert client models a template holds."""
    template = task.pod_template or PodTemplate()
    primary = template.primary_container_name

    # Output reaches the streamed log as it is printed, in order with stderr (stdout to a
    # pipe is block-buffered otherwise); the task's env= may say otherwise.
    env = {"PYTHONUNBUFFERED": "1", **task.env}
    env.update(options.extra_env)
    if options.s3_endpoint_url:
        env[ENV_S3_ENDPOINT] = options.s3_endpoint_url
    if options.network_timeout:
        env[ENV_NETWORK_TIMEOUT] = f"{options.network_timeout:g}"
    env.update(
        {
            ENV_EXECUTION_ID: execution.id,
            ENV_PROJECT: execution.project,
            ENV_DOMAIN: execution.domain,
            ENV_ATTEMPT: str(execution.attempt),
            ENV_TASK: f"{task.module}.{task.name}",
        }
    )

    requests = task.requests.to_k8s(include_gpu=False) if task.requests else {}
    limits = task.limits.to_k8s(include_gpu=False) if task.limits else {}
    spec: dict[str, Any] = {"restartPolicy": "Never"}
    if task.accelerator is not None:
        sched = scheduling(task.accelerator, task.gpu_count or 1, options.accelerator_label)
        limits.update(sched.limits)
        spec["nodeSelector"] = dict(sched.node_selector)
        spec["tolerations"] = [dict(t) for t in sched.tolerations]
    elif task.gpu_count:
        limits[GPU_RESOURCE] = str(task.gpu_count)
        spec["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    if task.timeout_seconds is not None:
        spec["activeDeadlineSeconds"] = task.timeout_seconds

    container: dict[str, Any] = {
        "name": primary,
        "image": image,
        "args": container_args(task.module, task.name, execution, bundle, options),
        "env": _env_list(env),
    }
    if bundle is not None:
        container["workingDir"] = options.working_dir
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    if resources:
        container["resources"] = resources
    spec["containers"] = [container]

    labels = {
        "app.kubernetes.io/managed-by": "pack",
        LABEL_EXECUTION: execution.id,
        LABEL_TASK: label_value(task.name),
        LABEL_ATTEMPT: str(execution.attempt),
    }
    annotations = {LABEL_TASK: f"{task.module}.{task.name}"}
    for label, digest in ((LABEL_SPEC, spec_digest), (LABEL_BUNDLE, bundle and bundle.digest)):
        text = _digest_text(digest)
        if text:
            labels[label] = _digest_hex(text)[:LABEL_DIGEST_CHARS]
            annotations[label] = text
    metadata: dict[str, Any] = {
        "name": pod_name(task.name, execution),
        "labels": labels,
        "annotations": annotations,
    }
    if options.namespace:
        metadata["namespace"] = options.namespace

    generated = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    lower = merge_manifests(_as_manifest(options.base_template), template.to_manifest())
    merged = merge_manifests(lower, generated)
    # The primary container goes first: tools that show "the" container pick index 0.
    containers = merged["spec"]["containers"]
    merged["spec"]["containers"] = sorted(containers, key=lambda c: c.get("name") != primary)
    # apiVersion and kind first whatever the layers held, as the API writes a pod.
    first = ("apiVersion", "kind", "metadata", "spec")
    ordered: Manifest = {k: merged[k] for k in first if k in merged}
    ordered.update(merged)
    # Null fields of a template are absent from the serialized model: drop them too.
    return _without_nulls(ordered)  # type: ignore[no-any-return]


def render_pod(task: Task, **render: Any) -> V1Pod:
    """`render_manifest(task, **render)` (same keyword arguments) as a
    `kubernetes.client.V1Pod` (imports `kubernetes`; the run pipeline and backends use
    the manifest dict)."""
    return from_dict(render_manifest(task, **render))


def manifest_of(pod: Any) -> Manifest:
    """`pod` as a manifest dict: a Mapping as it is, a client model (`V1Pod`) converted."""
    if isinstance(pod, Mapping):
        return pod if isinstance(pod, dict) else dict(pod)
    return to_dict(pod)


def primary_container(pod: Any, name: str | None = None) -> Any:
    """The container a backend runs: `name`, else the first one (render puts it first).

    A manifest dict gives the container's dict; a `V1Pod` its `V1Container`.
    """
    if isinstance(pod, Mapping):
        containers = (pod.get("spec") or {}).get("containers") or []
    else:
        containers = (pod.spec.containers if pod.spec is not None else None) or []
    if not containers:
        raise ValueError("the pod has no containers")
    if name is not None:
        for c in containers:
            if (c.get("name") if isinstance(c, Mapping) else c.name) == name:
                return c
    return containers[0]


def container_env(container: Any) -> dict[str, str]:
    """Plain env values of a container (dict or `V1Container`); valueFrom entries are left out."""
    if isinstance(container, Mapping):
        return {
            str(e["name"]): _env_text(e.get("value"))
            for e in container.get("env") or []
            if e.get("valueFrom") is None
        }
    return {e.name: e.value or "" for e in (container.env or []) if e.value_from is None}


def kubernetes_only_env(container: Mapping[str, Any]) -> str | None:
    """Pure: what of a container's env (a manifest dict) only Kubernetes resolves
    (valueFrom, envFrom), said for an error; None when every value is plain. The docker
    and local backends refuse such a pod rather than run it without those variables."""
    for item in container.get("env") or []:
        if item.get("valueFrom") is not None:
            return f"env {item['name']} comes from a Kubernetes source (valueFrom)"
    if container.get("envFrom"):
        refs = (s.get("secretRef") or s.get("configMapRef") for s in container["envFrom"])
        names = [str(ref.get("name")) for ref in refs if ref]
        return f"envFrom {', '.join(names)} names Kubernetes secrets or config maps"
    return None


def _env_text(value: Any) -> str:
    # A process env holds strings: a template's YAML `1` is passed as "1", a null as "".
    return "" if value is None else str(value)


# --- model <-> dict -----------------------------------------------------------------------


def _without_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _is_model(obj: Any) -> bool:
    return hasattr(obj, "openapi_types") and hasattr(obj, "attribute_map")


def _plain(value: Any) -> Any:
    """JSON-shaped data; client models inside (a user's V1Container in a dict) converted."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if _is_model(value):
        return to_dict(value)
    return copy.deepcopy(value)


def to_dict(obj: Any) -> dict[str, Any]:
    """A client model (V1Pod, V1PodSpec, ...) as a camelCase manifest dict; a manifest
    dict is copied (client models inside it converted) without importing `kubernetes`."""
    if isinstance(obj, Mapping):
        return _plain(obj)  # type: ignore[no-any-return]
    from kubernetes.client import ApiClient

    out = ApiClient().sanitize_for_serialization(obj)
    assert isinstance(out, dict)
    return out


def from_dict(manifest: Mapping[str, Any]) -> V1Pod:
    """A `V1Pod` from a manifest dict (imports `kubernetes`: only where a model is needed)."""
    from kubernetes.client import ApiClient

    pod = ApiClient()._ApiClient__deserialize(dict(manifest), "V1Pod")  # type: ignore[attr-defined]
    return pod  # type: ignore[no-any-return]
