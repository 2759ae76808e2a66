"""The Kubernetes permissions a driver pod needs: a ServiceAccount, a Role, a RoleBinding.

A detached workflow's driver (and any task that calls tasks on Kubernetes) creates,
watches and deletes its children's pods and reads their logs, in its own namespace,
with the service account its pod template names. It creates no Secret: children
read the --pass-env values from the Secret the client made for the run. Pure:
`pack k8s rbac` prints these; apply them with `kubectl apply -f -`.
"""

from __future__ import annotations

from typing import Any

DEFAULT_ACCOUNT = "pack-driver"

RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [""],
        "resources": ["pods"],
        "verbs": ["create", "get", "list", "watch", "delete"],
    },
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]


def rbac_manifests(namespace: str, account: str = DEFAULT_ACCOUNT) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/managed-by": "pack"}
    meta = {"name": account, "namespace": namespace, "labels": labels}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": dict(meta)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": dict(meta),
            "rules": RULES,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": dict(meta),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
    ]


def rbac_yaml(namespace: str, account: str = DEFAULT_ACCOUNT) -> str:
    import yaml

    docs = rbac_manifests(namespace, account)
    return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)
