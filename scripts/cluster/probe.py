#!/usr/bin/env python3
"""Readiness probes for scripts/test-cluster (stdlib only: it runs before pack is installed).

    probe.py --server URL --ca FILE --token-file FILE readyz
    probe.py ... node-ready NODE               Ready=True and no taints
    probe.py ... service-account NS NAME       exists and has its token secret

Exit 0 when ready; otherwise exit 1 with one line saying what is missing (never the token).
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import urllib.error
import urllib.request
from typing import Any


class NotReady(Exception):
    pass


def get(args: argparse.Namespace, path: str) -> Any:
    context = ssl.create_default_context(cafile=args.ca)
    with open(args.token_file, encoding="ascii") as f:
        token = f.read().strip()
    request = urllib.request.Request(
        args.server.rstrip("/") + path, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as resp:  # noqa: S310
            body = resp.read().decode()
    except urllib.error.HTTPError as exc:
        raise NotReady(f"GET {path}: HTTP {exc.code}") from None
    except OSError as exc:
        raise NotReady(f"GET {path}: {exc}") from None
    return json.loads(body) if body.startswith("{") else body


def readyz(args: argparse.Namespace) -> str:
    body = get(args, "/readyz")
    if body != "ok":
        raise NotReady(f"/readyz answered {body!r}")
    return "apiserver ready"


def node_ready(args: argparse.Namespace) -> str:
    node = get(args, f"/api/v1/nodes/{args.name}")
    conditions = {c["type"]: c for c in node.get("status", {}).get("conditions", [])}
    ready = conditions.get("Ready")
    if ready is None or ready.get("status") != "True":
        why = (
            f"{ready.get('reason')}: {ready.get('message')}" if ready else "no Ready condition yet"
        )
        raise NotReady(f"node {args.name} not Ready ({why})")
    taints = node.get("spec", {}).get("taints") or []
    if taints:
        raise NotReady(f"node {args.name} still tainted: {[t['key'] for t in taints]}")
    return f"node {args.name} Ready"


def service_account(args: argparse.Namespace) -> str:
    sa = get(args, f"/api/v1/namespaces/{args.namespace}/serviceaccounts/{args.name}")
    if not sa.get("secrets"):
        raise NotReady(f"service account {args.namespace}/{args.name} has no token secret yet")
    return f"service account {args.namespace}/{args.name} ready"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--token-file", required=True)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("readyz").set_defaults(fn=readyz)
    p = sub.add_parser("node-ready")
    p.add_argument("name")
    p.set_defaults(fn=node_ready)
    p = sub.add_parser("service-account")
    p.add_argument("namespace")
    p.add_argument("name")
    p.set_defaults(fn=service_account)
    args = parser.parse_args()
    try:
        print(args.fn(args))
    except NotReady as exc:
        print(exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
