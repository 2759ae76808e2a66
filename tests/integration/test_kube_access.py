"""pack's own Kubernetes API client against the test cluster's API server: token,
client certificate (data and files), tls-server-name, and the one-line errors for a
wrong token or a CA that does not sign the server."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pack.errors import LaunchError
from pack.launcher.backends.kubernetes import KubernetesBackend, make_api
from tests.integration.conftest import _unavailable

PKI = Path(os.environ.get("PACK_TEST_CLUSTER_PKI", "/var/lib/pack-infra/cluster/pki"))


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())  # type: ignore[no-any-return]


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def list_pods(kubeconfig: Path, context: str | None = None) -> int:
    api = make_api(kubeconfig=kubeconfig, context=context, env={})
    try:
        return len(api.list_namespaced_pod("default").items or [])
    finally:
        api.close()


@pytest.fixture
def client_cert(tmp_path: Path) -> tuple[bytes, bytes]:
    """A client certificate for a system:masters user, signed by the cluster's CA."""
    if not (PKI / "ca.key").is_file():
        _unavailable("Kubernetes cluster CA", f"no {PKI / 'ca.key'} (PACK_TEST_CLUSTER_PKI)")
    key, csr, crt = tmp_path / "u.key", tmp_path / "u.csr", tmp_path / "u.crt"
    subprocess.run(
        ["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(csr), "-subj", "/O=system:masters/CN=pack-cert-user"],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(PKI / "ca.crt"),
         "-CAkey", str(PKI / "ca.key"), "-CAcreateserial", "-CAserial", str(tmp_path / "srl"),
         "-days", "1", "-out", str(crt)],
        check=True, capture_output=True,
    )  # fmt: skip
    return crt.read_bytes(), key.read_bytes()


def test_token_kubeconfig_lists_pods(kubeconfig: Path) -> None:
    assert list_pods(kubeconfig) >= 0


def test_a_wrong_token_is_one_line_401(kubeconfig: Path, tmp_path: Path) -> None:
    doc = load(kubeconfig)
    doc["users"][0]["user"]["token"] = "not-the-token"
    api = make_api(kubeconfig=write(tmp_path / "config", doc), context=None, env={})
    backend = KubernetesBackend(api)
    with pytest.raises(LaunchError) as info:
        backend.cancel("rnothere", wait_seconds=1)
    assert "401" in str(info.value) and "\n" not in str(info.value)
    assert "not-the-token" not in str(info.value)


def test_client_certificate_as_data_and_as_files(
    kubeconfig: Path, tmp_path: Path, client_cert: tuple[bytes, bytes]
) -> None:
    cert, key = client_cert
    doc = load(kubeconfig)
    doc["users"][0]["user"] = {
        "client-certificate-data": base64.b64encode(cert).decode(),
        "client-key-data": base64.b64encode(key).decode(),
    }
    assert list_pods(write(tmp_path / "config-data", doc)) >= 0
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "me.crt").write_bytes(cert)
    (tmp_path / "certs" / "me.key").write_bytes(key)
    ca = base64.b64decode(doc["clusters"][0]["cluster"].pop("certificate-authority-data"))
    (tmp_path / "certs" / "ca.crt").write_bytes(ca)
    doc["clusters"][0]["cluster"]["certificate-authority"] = "certs/ca.crt"
    doc["users"][0]["user"] = {"client-certificate": "certs/me.crt", "client-key": "certs/me.key"}
    assert list_pods(write(tmp_path / "config-files", doc)) >= 0
    # Nothing of the key was left on disk by loading it.
    assert not list(Path(os.environ.get("TMPDIR", "/tmp")).glob("pack-kube-*/key.pem"))


def test_tls_server_name_checks_the_certificate_against_that_name(
    kubeconfig: Path, tmp_path: Path
) -> None:
    doc = load(kubeconfig)
    cluster = doc["clusters"][0]["cluster"]
    cluster["tls-server-name"] = "kubernetes.default"  # in the server's certificate
    assert list_pods(write(tmp_path / "good", doc)) >= 0
    cluster["tls-server-name"] = "not-in-the-certificate.example"
    with pytest.raises(LaunchError, match="cannot reach the Kubernetes API: .*(certificate|match)"):
        KubernetesBackend(
            make_api(kubeconfig=write(tmp_path / "bad", doc), context=None, env={})
        ).cancel("rnothere", wait_seconds=1)


def test_a_ca_that_does_not_sign_the_server_is_refused(kubeconfig: Path, tmp_path: Path) -> None:
    other_key, other_ca = tmp_path / "o.key", tmp_path / "o.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(other_key),
         "-out", str(other_ca), "-subj", "/CN=other-ca", "-days", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    doc = load(kubeconfig)
    doc["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(
        other_ca.read_bytes()
    ).decode()
    api = make_api(kubeconfig=write(tmp_path / "config", doc), context=None, env={})
    with pytest.raises(LaunchError, match="cannot reach the Kubernetes API: .*CERTIFICATE_VERIFY"):
        KubernetesBackend(api).cancel("rnothere", wait_seconds=1)
