"""`pack k8s rbac`: what a cluster needs for pack's drivers, printed for `kubectl apply -f -`."""

from __future__ import annotations

import click

from pack.cli.common import config_from


@click.group("k8s")
def group() -> None:
    """Kubernetes setup for pack."""


@group.command("rbac")
@click.option(
    "--namespace",
    "-n",
    default=None,
    help="Namespace of the driver pods (default: config `namespace`).",
)
@click.option(
    "--service-account",
    "account",
    default=None,
    help="Name of the ServiceAccount, Role and RoleBinding (default: pack-driver).",
)
def rbac(namespace: str | None, account: str | None) -> None:
    """Print the ServiceAccount, Role and RoleBinding a workflow's driver pod needs
    (create, watch and delete pods, read their logs; no Secrets). Name the account in
    the pod template (`spec.serviceAccountName`) of detached workflows."""
    from pack.errors import UsageError
    from pack.launcher.podspec import dns_label
    from pack.launcher.workflow.rbac import DEFAULT_ACCOUNT, rbac_yaml

    ns = namespace or config_from().namespace
    name = account or DEFAULT_ACCOUNT
    for label, value in (("--namespace", ns), ("--service-account", name)):
        if dns_label(value) != value:
            raise UsageError(
                f"{label} {value!r} is not a valid Kubernetes name (lowercase letters, digits, '-')"
            )
    click.echo(rbac_yaml(ns, name), nl=False)
