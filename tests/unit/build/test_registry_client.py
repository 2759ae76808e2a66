"""Registry client logic against a scripted transport (the real registry is in integration)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from pack.errors import RegistryError
from pack.imagespec.dockercreds import DockerCredentials
from pack.imagespec.registry import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    Body,
    RegistryClient,
    Response,
    api_host,
    api_repository,
    index_has_platforms,
    is_insecure,
    parse_challenge,
)


@dataclass(frozen=True)
class Ref:
    registry: str | None
    repository: str
    tag: str | None = "v1"
    digest: str | None = None


class Script:
    """Answers requests from a list of (method, url-substring, Response) in order."""

    def __init__(self, *answers: tuple[str, str, Response | Exception]) -> None:
        self.answers = list(answers)
        self.seen: list[tuple[str, str, dict[str, str]]] = []

    def __call__(self, method: str, url: str, headers: Mapping[str, str], body: Body) -> Response:
        self.seen.append((method, url, dict(headers)))
        want_method, want_url, answer = self.answers.pop(0)
        assert method == want_method, (method, url)
        assert want_url in url, (want_url, url)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(script: Script, creds: DockerCredentials | None = None) -> RegistryClient:
    return RegistryClient(transport=script, credentials=creds, sleep=lambda _: None, retries=2)


def docker_config(tmp_path: Path, host: str, user: str, password: str) -> DockerCredentials:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return DockerCredentials(path)


def test_head_200_is_true_404_is_false() -> None:
    s = Script(
        ("HEAD", "http://127.0.0.1:5000/v2/a/b/manifests/v1", Response(200, {})),
        ("HEAD", "/manifests/v2", Response(404, {})),
    )
    c = client(s)
    assert c.exists(Ref("127.0.0.1:5000", "a/b")) is True
    assert c.exists(Ref("127.0.0.1:5000", "a/b", tag="v2")) is False
    accept = s.seen[0][2]["Accept"]
    for media in (DOCKER_MANIFEST, DOCKER_LIST, OCI_INDEX):
        assert media in accept


def test_https_for_remote_registries_and_digest_reference() -> None:
    s = Script(("HEAD", "https://ghcr.io/v2/o/r/manifests/sha256:", Response(200, {})))
    assert client(s).exists(Ref("ghcr.io", "o/r", tag="x", digest="sha256:" + "a" * 64))


def test_5xx_is_retried_then_answer_used() -> None:
    s = Script(
        ("HEAD", "/manifests/v1", Response(503, {})),
        ("GET", "/manifests/v1", Response(502, {}, b"bad gateway")),
        ("HEAD", "/manifests/v1", Response(200, {})),
    )
    assert client(s).exists(Ref("127.0.0.1:5000", "a")) is True


def test_connection_errors_are_retried_then_raise_naming_registry() -> None:
    s = Script(*[("HEAD", "/manifests/v1", ConnectionRefusedError("refused"))] * 3)
    with pytest.raises(RegistryError, match=r"registry 127\.0\.0\.1:5000.*cannot connect"):
        client(s).exists(Ref("127.0.0.1:5000", "a"))


def test_persistent_5xx_raises_never_maybe() -> None:
    answers = []
    for _ in range(3):
        answers += [
            ("HEAD", "/manifests/v1", Response(500, {})),
            ("GET", "/manifests/v1", Response(500, {}, b"internal error")),
        ]
    with pytest.raises(RegistryError, match="answered 500 after 3 attempts"):
        client(Script(*answers)).exists(Ref("127.0.0.1:5000", "a"))


def test_500_whose_body_says_not_found_is_missing() -> None:
    # Harbor: missing repository -> 500 {"errors":[{"code":"NOT_FOUND",...}]}
    body = json.dumps({"errors": [{"code": "UNKNOWN", "message": "repository a not found"}]})
    s = Script(
        ("HEAD", "/manifests/v1", Response(500, {})),
        ("GET", "/manifests/v1", Response(500, {}, body.encode())),
    )
    assert client(s).exists(Ref("127.0.0.1:5000", "a")) is False
    assert len(s.seen) == 2  # no retries for a definite answer


def test_bearer_handshake_uses_docker_config_creds(tmp_path: Path) -> None:
    challenge = (
        'Bearer realm="https://auth.example.com/token",service="reg",scope="repository:o/r:pull"'
    )
    s = Script(
        (
            "HEAD",
            "https://reg.example.com/v2/o/r/manifests/v1",
            Response(401, {"www-authenticate": challenge}),
        ),
        (
            "GET",
            "https://auth.example.com/token?service=reg&scope=repository%3Ao%2Fr%3Apull",
            Response(200, {}, b'{"token": "tok123"}'),
        ),
        ("HEAD", "/manifests/v1", Response(200, {})),
        ("HEAD", "/manifests/v2", Response(404, {})),
    )
    c = client(s, docker_config(tmp_path, "https://reg.example.com", "u", "p"))
    assert c.exists(Ref("reg.example.com", "o/r")) is True
    token_headers = s.seen[1][2]
    assert token_headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert s.seen[2][2]["Authorization"] == "Bearer tok123"
    # The token is reused for the same scope: no second handshake.
    assert c.exists(Ref("reg.example.com", "o/r", tag="v2")) is False
    assert s.seen[3][2]["Authorization"] == "Bearer tok123"


def test_basic_challenge_without_creds_fails_clearly(tmp_path: Path) -> None:
    s = Script(("HEAD", "/manifests/v1", Response(401, {"www-authenticate": 'Basic realm="r"'})))
    creds = DockerCredentials(tmp_path / "absent.json")
    with pytest.raises(
        RegistryError, match=r"127\.0\.0\.1:5001: 401 Unauthorized and no credentials"
    ):
        client(s, creds).exists(Ref("127.0.0.1:5001", "a"))


def test_401_after_auth_names_registry_and_status_and_hides_password(tmp_path: Path) -> None:
    s = Script(
        ("HEAD", "/manifests/v1", Response(401, {"www-authenticate": 'Basic realm="r"'})),
        ("HEAD", "/manifests/v1", Response(401, {"www-authenticate": 'Basic realm="r"'})),
    )
    creds = docker_config(tmp_path, "127.0.0.1:5001", "pack", "s3cret-value")
    with pytest.raises(RegistryError) as info:
        client(s, creds).exists(Ref("127.0.0.1:5001", "a"))
    message = str(info.value)
    assert "127.0.0.1:5001" in message and "401" in message
    assert "s3cret-value" not in message
    assert "s3cret-value" not in repr(creds.get("127.0.0.1:5001"))


def test_403_is_an_error_not_missing() -> None:
    s = Script(("HEAD", "/manifests/v1", Response(403, {})))
    with pytest.raises(RegistryError, match="403 Forbidden"):
        client(s).exists(Ref("127.0.0.1:5000", "a"))


def test_index_must_hold_every_requested_platform() -> None:
    index = {
        "manifests": [
            {"digest": "sha256:1", "platform": {"os": "linux", "architecture": "amd64"}},
            {
                "digest": "sha256:2",
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            },
        ]
    }
    assert index_has_platforms(index, ["linux/amd64", "linux/arm64"])
    assert index_has_platforms(index, ["linux/arm64/v8"])
    assert not index_has_platforms(index, ["linux/amd64", "linux/s390x"])
    s = Script(
        ("HEAD", "/manifests/v1", Response(200, {"content-type": OCI_INDEX})),
        (
            "GET",
            "/manifests/v1",
            Response(200, {"content-type": OCI_INDEX}, json.dumps(index).encode()),
        ),
    )
    assert client(s).exists(Ref("127.0.0.1:5000", "a"), ["linux/amd64", "linux/ppc64le"]) is False


def test_pure_helpers() -> None:
    assert is_insecure("127.0.0.1:5000") and is_insecure("localhost:5000")
    assert is_insecure("[::1]:5000") and is_insecure("127.1.2.3")
    assert not is_insecure("ghcr.io") and is_insecure("reg.lan:80", ["reg.lan"])
    assert api_host(None) == api_host("docker.io") == "registry-1.docker.io"
    assert api_repository("docker.io", "python") == "library/python"
    assert api_repository("ghcr.io", "python") == "python"
    scheme, params = parse_challenge(
        'Bearer realm="https://a/t",service="s",scope="repository:x:pull,push"'
    )
    assert scheme == "bearer"
    assert params == {"realm": "https://a/t", "service": "s", "scope": "repository:x:pull,push"}
