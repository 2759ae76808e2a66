"""The cluster's default pod template: a YAML file holding a Pod or a PodTemplate.

An operator writes it once (`--pod-template FILE`, `PACK_POD_TEMPLATE`,
`[tool.pack] pod_template`) to set what every pod on their cluster needs —
hostNetwork, a service account, node selectors, tolerations, imagePullSecrets —
and pack merges it *under* each task's own `pod_template` (see
`pack.launcher.podspec.render_manifest`, `RenderOptions.base_template`).

Loading checks the shape early, naming the file and the key: a typo such as
`nodeselector` would otherwise be dropped silently by the client models.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from pack.errors import UsageError

_KINDS = ("Pod", "PodTemplate")
# The generated container of the same name is the task's; others become sidecars.
_PRIMARY = "primary"


def _known_keys(model: str) -> set[str]:
    from kubernetes import client

    return set(getattr(client, model).attribute_map.values())


def _check_keys(origin: str, where: str, value: Any, model: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise UsageError(f"{origin}: {where} must be a mapping, got {type(value).__name__}")
    from pack.launcher.podfields import POD_FIELDS

    # The client is imported only for a key outside the names pack knows.
    unknown = sorted(set(value) - POD_FIELDS[model])
    if unknown:
        unknown = sorted(set(value) - _known_keys(model))
    if unknown:
        raise UsageError(
            f"{origin}: unknown field {where}.{unknown[0]}",
            hint="field names are camelCase as in `kubectl explain pod.spec`, e.g. nodeSelector",
        )


def pod_template_manifest(data: Any, origin: str, primary: str = _PRIMARY) -> dict[str, Any]:
    """Pure: a parsed Pod/PodTemplate document → a manifest dict `{metadata, spec}` to merge.

    Only labels and annotations of the metadata are kept (the pod's name and
    namespace are pack's); `status` is dropped.
    """
    if not isinstance(data, dict):
        raise UsageError(
            f"{origin}: expected a Pod or PodTemplate mapping, got {type(data).__name__}"
        )
    kind = data.get("kind")
    if kind not in _KINDS:
        raise UsageError(
            f"{origin}: kind is {kind!r}; a default pod template must be kind Pod or PodTemplate"
        )
    if data.get("apiVersion", "v1") != "v1":
        raise UsageError(f"{origin}: apiVersion is {data.get('apiVersion')!r}; expected v1")
    if kind == "PodTemplate":
        body = data.get("template")
        if not isinstance(body, dict):
            raise UsageError(
                f"{origin}: a PodTemplate needs a `template:` mapping with metadata and spec"
            )
        where = "template"
    else:
        body = data
        where = ""
    prefix = f"{where}." if where else ""
    meta = body.get("metadata") or {}
    _check_keys(origin, f"{prefix}metadata", meta, "V1ObjectMeta")
    spec = body.get("spec")
    if spec is None:
        spec = {}
    _check_keys(origin, f"{prefix}spec", spec, "V1PodSpec")
    for field in ("containers", "initContainers"):
        items = spec.get(field) or []
        if not isinstance(items, list):
            raise UsageError(f"{origin}: {prefix}spec.{field} must be a list")
        for i, container in enumerate(items):
            at = f"{prefix}spec.{field}[{i}]"
            _check_keys(origin, at, container, "V1Container")
            if not container.get("name"):
                raise UsageError(f"{origin}: {at} has no name")
            if (
                field == "containers"
                and container["name"] != primary
                and not container.get("image")
            ):
                raise UsageError(
                    f"{origin}: {at} ({container['name']!r}) has no image; name it {primary!r} "
                    "to set fields of the task's own container, or give the sidecar an image"
                )
    manifest: dict[str, Any] = {}
    kept = {k: copy.deepcopy(meta[k]) for k in ("labels", "annotations") if meta.get(k)}
    if kept:
        manifest["metadata"] = kept
    if spec:
        manifest["spec"] = copy.deepcopy(spec)
    return manifest


def load_pod_template(path: Path, primary: str = _PRIMARY) -> dict[str, Any]:
    """Read `path` (YAML, one document) into a manifest for `RenderOptions.base_template`."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"pod template {path}: cannot read: {exc.strerror or exc}") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise UsageError(
            f"pod template {path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from None
    if len(docs) != 1:
        raise UsageError(f"pod template {path}: expected one YAML document, found {len(docs)}")
    return pod_template_manifest(docs[0], f"pod template {path}", primary)
