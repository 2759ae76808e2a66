"""Reading a kubeconfig for pack's own API client: what it honours, what it hands to
the official client, and one-line errors for broken files."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from pack.errors import LaunchError
from pack.launcher.backends import kubeaccess
from pack.launcher.backends.kubeaccess import AccessError, NeedsOfficialClient, from_kubeconfig
from pack.launcher.backends.kubehttp import query_string


def config(user: dict[str, Any], cluster: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster or {"server": "https://10.1.2.3:6443"}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [
            {"name": "one", "context": {"cluster": "c", "user": "u"}},
            {"name": "other", "context": {"cluster": "c", "user": "missing"}},
        ],
        "current-context": "one",
    }


def test_token_and_ca_data(tmp_path: Path) -> None:
    ca = b"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"
    doc = config(
        {"token": "s3cret"},
        {
            "server": "https://10.1.2.3:6443/",
            "certificate-authority-data": base64.b64encode(ca).decode(),
            "tls-server-name": "kubernetes",
        },
    )
    access = from_kubeconfig(doc, tmp_path / "config", None)
    assert access.server == "https://10.1.2.3:6443"
    assert access.ca_pem == ca and access.token == "s3cret"
    assert access.tls_server_name == "kubernetes" and not access.insecure
    assert "s3cret" not in repr(access)


def test_files_are_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.crt").write_bytes(b"CA")
    (tmp_path / "certs" / "me.crt").write_bytes(b"CERT")
    (tmp_path / "certs" / "me.key").write_bytes(b"KEY")
    doc = config(
        {"client-certificate": "certs/me.crt", "client-key": "certs/me.key", "tokenFile": "tok"},
        {"server": "https://h:1", "certificate-authority": "certs/ca.crt"},
    )
    access = from_kubeconfig(doc, tmp_path / "config", None)
    assert (access.ca_pem, access.client_cert_pem, access.client_key_pem) == (
        b"CA",
        b"CERT",
        b"KEY",
    )
    assert access.token_file == str(tmp_path / "tok")


@pytest.mark.parametrize(
    "user",
    [
        {"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1beta1"}},
        {"auth-provider": {"name": "oidc"}},
        {"token": "t", "as": "someone"},
    ],
)
def test_what_only_the_official_client_does_is_handed_to_it(user: dict[str, Any]) -> None:
    with pytest.raises(NeedsOfficialClient):
        from_kubeconfig(config(user), Path("/k/config"), None)


def test_a_proxy_url_is_handed_to_the_official_client() -> None:
    doc = config({"token": "t"}, {"server": "https://h:1", "proxy-url": "http://proxy:3128"})
    with pytest.raises(NeedsOfficialClient):
        from_kubeconfig(doc, Path("/k/config"), None)


def test_broken_kubeconfigs_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(AccessError, match="no context named 'nope'"):
        from_kubeconfig(config({"token": "t"}), tmp_path / "config", "nope")
    with pytest.raises(AccessError, match="no user named 'missing'"):
        from_kubeconfig(config({"token": "t"}), tmp_path / "config", "other")
    doc = config({"client-certificate": "gone.crt"})
    with pytest.raises(AccessError, match="cannot read client-certificate .*gone.crt"):
        from_kubeconfig(doc, tmp_path / "config", None)
    doc = config({"token": "t"}, {"certificate-authority-data": "%%%", "server": "https://h"})
    with pytest.raises(AccessError, match="certificate-authority-data is not valid base64"):
        from_kubeconfig(doc, tmp_path / "config", None)


def test_in_cluster_reads_the_service_account(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok")
    (tmp_path / "ca.crt").write_bytes(b"CA")
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    access = kubeaccess.in_cluster(env, tmp_path)
    assert access.server == "https://10.0.0.1:443" and access.ca_pem == b"CA"
    assert access.token_file == str(tmp_path / "token")
    v6 = kubeaccess.in_cluster({**env, "KUBERNETES_SERVICE_HOST": "fd00::1"}, tmp_path)
    assert v6.server == "https://[fd00::1]:443"


def test_make_api_errors_are_one_line(tmp_path: Path) -> None:
    from pack.launcher.backends.kubernetes import make_api

    bad = tmp_path / "config"
    bad.write_text("clusters: [\n")
    with pytest.raises(LaunchError, match=f"kubeconfig {bad} is not valid YAML"):
        make_api(kubeconfig=bad, context=None, env={})
    with pytest.raises(LaunchError, match="cannot read kubeconfig .*absent"):
        make_api(kubeconfig=tmp_path / "absent", context=None, env={})
    bad.write_text("current-context: x\ncontexts: []\n")
    with pytest.raises(LaunchError, match="no context named 'x'"):
        make_api(kubeconfig=bad, context=None, env={})
    with pytest.raises(LaunchError, match="no Kubernetes cluster configured"):
        make_api(kubeconfig=None, context=None, env={"HOME": str(tmp_path)})


def test_query_strings_spell_booleans_as_the_api_does() -> None:
    assert query_string([("watch", True), ("labelSelector", "a=b,c in (d)")]) == (
        "watch=true&labelSelector=a%3Db%2Cc%20in%20%28d%29"
    )
