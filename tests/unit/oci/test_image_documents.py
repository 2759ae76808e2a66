"""Config, manifest and index documents; what the base's config says about its Python."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pack.digest import Digest
from pack.errors import BuildError, UsageError
from pack.imagespec.builders.oci.baseimage import (
    LABEL_PACKAGES,
    LABEL_PYTHON_VERSION,
    BaseImage,
    PythonFacts,
    python_facts,
    venv_labels,
)
from pack.imagespec.builders.oci.fetch import Fetcher, index_credentials
from pack.imagespec.builders.oci.image import (
    DOCKER,
    OCI,
    Layer,
    family_of,
    image_config,
    image_index,
    image_manifest,
    merge_env,
)
from pack.imagespec.builders.oci.resolve import Artifact, Pin
from pack.imagespec.ref import ImageRef

BASE_CONFIG: dict[str, Any] = {
    "architecture": "amd64",
    "os": "linux",
    "container_config": {"Cmd": ["sh"]},
    "docker_version": "20.10",
    "config": {
        "Env": ["PATH=/usr/bin", "LANG=C"],
        "Cmd": ["bash"],
        "User": "app",
        "WorkingDir": "/work",
        "Labels": {"from.base": "1"},
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]},
    "history": [{"created": "2020-01-01T00:00:00Z", "created_by": "base"}],
}
LAYER = Layer("sha256:" + "1" * 64, 123, "sha256:" + "2" * 64, "pack oci: numpy==2.0")


def test_config_keeps_the_base_and_adds_env_labels_entrypoint_history() -> None:
    data = image_config(
        BASE_CONFIG,
        [LAYER],
        env=merge_env(["PATH=/usr/bin", "LANG=C"], [("LANG", "C.UTF-8"), ("A", "1")]),
        labels={"org.pack.spec-digest": "sha256:x"},
        entrypoint=["python", "-m", "app"],
        created=0,
    )
    config = json.loads(data)
    run = config["config"]
    assert run["Env"] == ["PATH=/usr/bin", "LANG=C.UTF-8", "A=1"]
    assert run["Labels"] == {"from.base": "1", "org.pack.spec-digest": "sha256:x"}
    assert run["Entrypoint"] == ["python", "-m", "app"] and run["Cmd"] is None
    assert (run["User"], run["WorkingDir"]) == ("app", "/work")  # the base's, kept
    assert config["rootfs"]["diff_ids"] == ["sha256:" + "0" * 64, LAYER.diff_id]
    assert config["history"][-1] == {
        "created": "1970-01-01T00:00:00Z",
        "created_by": "pack oci: numpy==2.0",
    }
    assert config["created"] == "1970-01-01T00:00:00Z"
    assert "container_config" not in config and "docker_version" not in config
    assert data == json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    no_entry = json.loads(
        image_config(BASE_CONFIG, [], env=[], labels={}, entrypoint=None, created=0)
    )
    assert no_entry["config"]["Cmd"] == ["bash"]  # inherited when the spec sets no entrypoint


def test_manifest_and_index_stay_in_the_base_family() -> None:
    base_layer = {
        "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "digest": "sha256:" + "9" * 64,
        "size": 5,
        "urls": ["https://x"],
    }
    docker = json.loads(image_manifest(DOCKER, "sha256:" + "c" * 64, 7, [base_layer], [LAYER]))
    assert docker["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert docker["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert docker["layers"][0] == base_layer  # verbatim
    assert docker["layers"][1]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    oci = json.loads(image_manifest(OCI, "sha256:" + "c" * 64, 7, [], [LAYER]))
    assert oci["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    index = json.loads(
        image_index(OCI, [("sha256:" + "a" * 64, 10, {"architecture": "arm64", "os": "linux"})])
    )
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert index["manifests"][0]["platform"]["architecture"] == "arm64"
    assert family_of("application/vnd.docker.distribution.manifest.list.v2+json") is DOCKER
    with pytest.raises(BuildError, match="neither Docker v2 nor OCI"):
        family_of("application/vnd.docker.distribution.manifest.v1+prettyjws")


def base(env: list[str], labels: dict[str, str] | None = None) -> BaseImage:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": env, "Labels": labels or {}},
    }
    return BaseImage(ImageRef("r", "b"), DOCKER, (), (), config)


def test_python_facts_from_the_base_config_never_guess() -> None:
    official = python_facts(base(["PYTHON_VERSION=3.12.7"]), "python:3.12-slim", "3.11", False)
    assert official == PythonFacts("/usr/local/bin/python3", "3.12", False)
    with pytest.raises(
        UsageError,
        match=r"python_version: base_image python:3.12-slim has Python "
        r"3.12 \(its PYTHON_VERSION\), the spec says 3.11",
    ):
        python_facts(base(["PYTHON_VERSION=3.12.7"]), "python:3.12-slim", "3.11", True)
    with pytest.raises(UsageError, match="python_version: the oci builder cannot see which Python"):
        python_facts(base([]), "debian:12", "3.11", False)
    assert python_facts(base([]), "debian:12", "3.11", True) == PythonFacts(
        "/usr/bin/python3", "3.11", False
    )
    built = base(
        ["VIRTUAL_ENV=/opt/pack/venv"],
        {
            LABEL_PYTHON_VERSION: "3.11",
            LABEL_PACKAGES: "numpy==2.0 pack==0.1.0",
            "org.pack.python": "/usr/bin/python3",
        },
    )
    facts = python_facts(built, "reg/base:1", "3.10", False)
    assert facts == PythonFacts("/usr/bin/python3", "3.11", True, ("numpy==2.0", "pack==0.1.0"))
    with pytest.raises(BuildError, match="no record of what is in it"):
        python_facts(base(["VIRTUAL_ENV=/opt/pack/venv"]), "reg/docker-built:1", "3.11", True)
    labels = venv_labels(facts, ["numpy==2.1", "six==1.0"])
    assert labels[LABEL_PACKAGES] == "numpy==2.1 pack==0.1.0 six==1.0"


class Resp:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def __enter__(self) -> Resp:
        return self

    def __exit__(self, *a: object) -> None:
        pass

    def read(self, n: int) -> bytes:
        out, self.data = self.data[:n], self.data[n:]
        return out


def test_fetch_checks_the_hash_caches_atomically_and_sends_credentials_to_their_host(
    tmp_path: Path,
) -> None:
    seen: list[tuple[str, str | None]] = []
    payload = b"wheel bytes"

    def opener(req: Any, timeout: float) -> Resp:
        seen.append((req.full_url, req.get_header("Authorization")))
        return Resp(payload)

    creds = index_credentials(
        ["https://u:p%40ss@private.example/simple", "https://pypi.org/simple"]
    )
    assert list(creds) == ["private.example"]
    fetcher = Fetcher(tmp_path, credentials=creds, opener=opener)
    good = Pin(
        "a",
        "1",
        Artifact(
            "wheel",
            "a-1-py3-none-any.whl",
            Digest.of_bytes(payload).hex,
            url="https://private.example/files/a-1-py3-none-any.whl",
        ),
    )
    path = fetcher.fetch(good)
    assert path.read_bytes() == payload
    assert seen == [("https://private.example/files/a-1-py3-none-any.whl", "Basic dTpwQHNz")]
    fetcher.fetch(good)
    assert len(seen) == 1  # cached by content
    other = Pin(
        "b",
        "1",
        Artifact(
            "wheel",
            "b-1-py3-none-any.whl",
            "0" * 64,
            url="https://files.example/b-1-py3-none-any.whl",
        ),
    )
    with pytest.raises(
        BuildError, match="b==1: https://files.example/b-1-py3-none-any.whl has sha256"
    ):
        fetcher.fetch(other)
    assert seen[-1][1] is None  # another host: no credentials
    assert not (tmp_path / ("0" * 64)).exists() or not any((tmp_path / ("0" * 64)).iterdir())


def test_fetch_retries_a_5xx_but_not_a_4xx_and_never_redirects_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import urllib.error

    import pack.imagespec.builders.oci.fetch as fetch

    monkeypatch.setattr(fetch.time, "sleep", lambda s: None)
    payload = b"wheel"
    answers: list[Any] = [503, OSError("connection reset"), payload]
    requests: list[Any] = []

    def opener(req: Any, timeout: float) -> Resp:
        requests.append(req)
        answer = answers.pop(0)
        if isinstance(answer, int):
            raise urllib.error.HTTPError(req.full_url, answer, "busy", {}, None)  # type: ignore[arg-type]
        if isinstance(answer, Exception):
            raise answer
        return Resp(answer)

    creds = index_credentials(["https://u:p@private.example/simple"])
    fetcher = Fetcher(tmp_path, credentials=creds, opener=opener)
    pin = Pin(
        "a",
        "1",
        Artifact(
            "wheel",
            "a-1-py3-none-any.whl",
            Digest.of_bytes(payload).hex,
            url="https://private.example/a-1-py3-none-any.whl",
        ),
    )
    assert fetcher.fetch(pin).read_bytes() == payload and len(requests) == 3
    # Basic auth for the index host, but not copied onto a redirect (to a CDN, say).
    assert requests[0].unredirected_hdrs.get("Authorization", "").startswith("Basic ")
    assert "Authorization" not in requests[0].headers
    answers[:] = [404, payload]
    missing = Pin(
        "b",
        "1",
        Artifact(
            "wheel",
            "b-1-py3-none-any.whl",
            "1" * 64,
            url="https://private.example/b-1-py3-none-any.whl",
        ),
    )
    with pytest.raises(BuildError, match="b==1: cannot download .*: HTTP 404"):
        fetcher.fetch(missing)
    assert answers == [payload]  # a 404 is not asked again
