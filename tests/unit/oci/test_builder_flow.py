"""The oci builder's orchestration against the in-memory registry (no uv, no network)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from pack.errors import UsageError
from pack.imagespec.builders.base import BuildRequest, NullProgress
from pack.imagespec.builders.oci.builder import OciBuilder
from pack.imagespec.hashing import ResolveDefaults, resolve
from pack.imagespec.recipe import recipe_of
from pack.imagespec.ref import ImageRef
from pack.imagespec.registry import RegistryClient
from pack.imagespec.spec import ImageSpec
from tests.unit.build.fake_registry import FakeRegistry

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DEFAULTS = ResolveDefaults(python_version="3.11", runtime_version="0.1.0")


def push_base(reg: FakeRegistry) -> str:
    layer = reg.add_blob("lib/base", b"base layer bytes")
    config = json.dumps(
        {"architecture": "amd64", "os": "linux",
         "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["sh"], "WorkingDir": "/srv"},
         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}
    ).encode()  # fmt: skip
    config_digest = reg.add_blob("lib/base", config)
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
         "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                    "digest": config_digest, "size": len(config)},
         "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                     "digest": layer, "size": 16}]}
    ).encode()  # fmt: skip
    reg.manifests[("lib/base", "1")] = (DOCKER_MANIFEST, manifest)
    return layer


def request(tmp_path: Path, **kw: Any) -> BuildRequest:
    (tmp_path / "assets").mkdir(exist_ok=True)
    (tmp_path / "assets" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (tmp_path / "assets" / "run.sh").chmod(0o755)
    spec = ImageSpec(
        name="team/app", registry="127.0.0.1:5000", base_image="127.0.0.1:5000/lib/base:1",
        runtime=False, copy=["assets"], env={"MODE": "prod"}, labels={"team": "ml"},
        entrypoint=["/root/assets/run.sh"], base_dir=tmp_path, **kw,
    )  # fmt: skip
    resolved = resolve(spec, DEFAULTS)
    return BuildRequest(
        label="app", ref=resolved.ref, dockerfile="", context={}, recipe=recipe_of(resolved)
    )


def builder(reg: FakeRegistry, tmp_path: Path) -> OciBuilder:
    client = RegistryClient(transport=reg, sleep=lambda _: None)  # type: ignore[arg-type]
    return OciBuilder(registry=client, cache_dir=tmp_path / "cache", environ={})


def no_uv() -> str:
    raise AssertionError("an image without Python packages must not need uv")


def test_copy_env_image_is_pushed_with_the_base_mounted_and_config_merged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pack.imagespec.builders.oci.builder as oci_builder

    monkeypatch.setattr(oci_builder, "find_uv", no_uv)
    reg = FakeRegistry()
    base_layer = push_base(reg)
    req = request(tmp_path)
    result = builder(reg, tmp_path).build(req, NullProgress())
    media, data = reg.manifests[("team/app", req.ref.tag or "")]
    assert media == DOCKER_MANIFEST and result.digest is not None
    manifest = json.loads(data)
    assert [x["digest"] for x in manifest["layers"]][0] == base_layer
    assert len(manifest["layers"]) == 2
    # The base layer was mounted from its repository, never read.
    assert any(s.method == "POST" and "mount=" in s.url for s in reg.seen)
    assert not any(s.method == "GET" and base_layer in s.url for s in reg.seen)
    config = json.loads(reg.blobs["team/app"][manifest["config"]["digest"]])
    run = config["config"]
    assert run["Env"] == ["PATH=/usr/bin", "MODE=prod"]
    assert run["Labels"]["team"] == "ml" and run["Labels"]["org.pack.spec-digest"]
    assert run["Entrypoint"] == ["/root/assets/run.sh"] and run["Cmd"] is None
    assert run["WorkingDir"] == "/srv"
    layer = reg.blobs["team/app"][manifest["layers"][1]["digest"]]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as t:
        members = {m.name: m for m in t.getmembers()}
    assert set(members) == {"root/assets", "root/assets/run.sh"}  # never /root itself
    assert members["root/assets/run.sh"].mode == 0o755

    # Again, from the same cache: every layer costs one HEAD, nothing is uploaded.
    reg.seen.clear()
    again = builder(reg, tmp_path).build(req, NullProgress())
    assert again.digest == result.digest
    assert not any(s.method in ("PATCH", "POST") for s in reg.seen)


def test_oci_builder_refuses_local_images_and_unknown_platforms(tmp_path: Path) -> None:
    reg = FakeRegistry()
    push_base(reg)
    req = request(tmp_path)
    local = BuildRequest(**{**req.__dict__, "push": False})
    with pytest.raises(UsageError, match="registry: the oci builder pushes to a registry"):
        builder(reg, tmp_path).build(local, NullProgress())
    s390 = request(tmp_path, platform="linux/s390x")
    with pytest.raises(Exception, match="linux/s390x"):
        builder(reg, tmp_path).build(s390, NullProgress())
    assert ImageRef.parse(str(req.ref)).tag
