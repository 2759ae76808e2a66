"""The daemonless builder against the real registry, Docker engine and cluster.

Images are built with `pack build --builder oci` (no engine involved) and then run by the
real Docker engine, which is the judge of whether they are valid images.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pack.imagespec.ref import ImageRef
from pack.imagespec.registry import RegistryClient
from tests.integration.test_build import HOST_CA, Pack, spec_file, uid
from tests.integration.test_registry import FlakyProxy
from tests.integration.test_registry import proxy_factory as proxy_factory  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

ACCEPT = (
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json"
)


@pytest.fixture(scope="session")
def oci_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pack cache for the session's warm builds (cold builds make their own)."""
    return tmp_path_factory.mktemp("oci-cache")


@pytest.fixture()
def oci(tmp_path: Path, registry, base_image: str, oci_cache: Path) -> Pack:  # type: ignore[no-untyped-def]
    """`pack` with no Docker engine reachable at all: the oci builder must not need one."""
    env = {
        **os.environ,
        "PACK_BUILDER": "oci",
        "PACK_CACHE_DIR": str(oci_cache),
        "PACK_BUILD_CA_BUNDLE": str(HOST_CA),
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
        "PACK_DOCKER_HOST": "unix:///nonexistent/docker.sock",
        "DOCKER_CONFIG": str(tmp_path / "no-docker-config"),
    }
    env.pop("PACK_BUILD_CACHE", None)
    work = tmp_path / "project"
    work.mkdir()
    return Pack(work, env)


def manifest(ref: str) -> tuple[str, dict[str, Any]]:
    parsed = ImageRef.parse(ref)
    found = RegistryClient().get_manifest(parsed)
    assert found is not None, ref
    return found.media_type, found.json()


def config_of(registry_host: str, repo: str, body: dict[str, Any]) -> dict[str, Any]:
    data = RegistryClient().read_blob(registry_host, repo, body["config"]["digest"], limit=1 << 22)
    return json.loads(data)  # type: ignore[no-any-return]


def docker_run(docker_engine: Any, image: str, script: str) -> str:
    run = docker_engine.run(
        "run", "--rm", "--network", "host", image, "sh", "-c", script, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return str(run.stdout)


RECORD_CHECK = """
import hashlib, base64, importlib.metadata as md, sys
bad, n = [], 0
for dist in md.distributions():
    for f in dist.files or ():
        if f.hash is None:
            continue
        data = f.locate().read_bytes()
        got = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        n += 1
        if got != f.hash.value or len(data) != f.size:
            bad.append(str(f))
print("record-files", n, "bad", bad)
"""


def test_oci_image_runs_in_docker_with_the_docker_builders_layout(
    oci: Pack, registry, base_image: str, docker_engine, proxy_factory: Callable[..., FlakyProxy]
) -> None:  # type: ignore[no-untyped-def]
    proxy = proxy_factory()  # the test registry behind a proxy that records every request
    base_through_proxy = base_image.replace(registry.host, proxy.host, 1)
    repo = f"test/oci-small-{uid()}"
    spec = spec_file(
        oci.cwd,
        f"small = ImageSpec(name={repo!r}, registry={proxy.host!r}, base_image="
        f"{base_through_proxy!r}, python_version='3.11', packages=['six', 'iniconfig'], "
        "env={'GREETING': 'hi there'}, labels={'team': 'ml'}, copy=['assets'])\n",
    )
    (oci.cwd / "assets").mkdir()
    (oci.cwd / "assets" / "run.sh").write_text("#!/bin/sh\necho copied-and-run\n")
    (oci.cwd / "assets" / "run.sh").chmod(0o755)
    [out] = oci.build(str(spec))
    assert out["status"] == "built"
    image = out["digest"].replace(proxy.host, registry.host, 1)
    media, body = manifest(image)
    assert media == "application/vnd.docker.distribution.manifest.v2+json"  # the base's family
    config = config_of(registry.host, repo, body)
    assert config["architecture"] == "amd64"
    assert config["config"]["Labels"]["team"] == "ml"
    assert "GREETING=hi there" in config["config"]["Env"]
    # The base was mounted into the new repository, never downloaded.
    _, base_body = manifest(base_image)
    base_layers = {layer["digest"] for layer in base_body["layers"]}
    gets = [p for m, p, _ in proxy.requests if m == "GET" and "/blobs/sha256:" in p]
    assert not [p for p in gets if p.rsplit("/", 1)[1] in base_layers], gets
    mounts = [p for m, p, s in proxy.requests if m == "POST" and "mount=" in p and s == 201]
    assert any(d.split(":")[1] in p for d in base_layers for p in mounts), proxy.requests

    text = docker_run(
        docker_engine,
        image,
        "python -c 'import six, iniconfig, pack.launcher.entrypoint; print(\"imports-ok\")'"
        " && head -1 /opt/pack/venv/bin/pack-execute && pack --help >/dev/null"
        " && echo execute-ok && cat /opt/pack/venv/pyvenv.cfg && readlink /opt/pack/venv/bin/python3"
        " && /root/assets/run.sh && echo $GREETING"
        " && find / -xdev \\( -name '*.lock' -o -name direct_url.json -o -name uv_cache.json \\)"
        " -path '/opt/pack/*' | sed 's/^/leftover: /'"
        " && python -v -c 'import six' 2>&1 | grep -c 'six.cpython-311.pyc matches'"
        f" && python -c '{RECORD_CHECK}'",
    )
    assert "imports-ok" in text and "execute-ok" in text
    assert "#!/opt/pack/venv/bin/python\n" in text  # the image's interpreter, not this host's
    assert "home = /usr/bin" in text and "/usr/bin/python3\n" in text
    assert "copied-and-run" in text and "hi there" in text
    assert "leftover:" not in text
    lines = text.splitlines()
    assert lines[lines.index("hi there") + 1] == "1"  # the shipped .pyc is valid, not recompiled
    record = re.search(r"record-files (\d+) bad (.*)", text)
    assert record is not None and int(record.group(1)) > 1000 and record.group(2) == "[]"


def test_one_package_change_builds_and_uploads_one_layer(
    oci: Pack, registry, base_image: str
) -> None:  # type: ignore[no-untyped-def]
    repo = f"test/oci-change-{uid()}"
    body = (
        "app = ImageSpec(name={repo!r}, registry={reg!r}, base_image={base!r}, "
        "python_version='3.11', packages={pkgs!r})\n"
    )
    spec = spec_file(
        oci.cwd, body.format(repo=repo, reg=registry.host, base=base_image, pkgs=["iniconfig"])
    )
    [first] = oci.build(str(spec))
    spec_file(
        oci.cwd,
        body.format(repo=repo, reg=registry.host, base=base_image, pkgs=["iniconfig", "tomli-w"]),
    )
    proc = oci("build", "-o", "json", str(spec))
    assert proc.returncode == 0, proc.stderr
    [second] = json.loads(proc.stdout)
    assert second["status"] == "built"
    counts = re.search(r"linux/amd64: (\d+) layers \((.*)\)", proc.stderr)
    assert counts is not None, proc.stderr
    assert counts.group(2).startswith("1 built") and "uploaded" not in counts.group(2)
    _, a = manifest(first["digest"])
    _, b = manifest(second["digest"])
    old, new = [x["digest"] for x in a["layers"]], [x["digest"] for x in b["layers"]]
    assert len(old) == len(new) and sum(x != y for x, y in zip(old, new, strict=True)) == 1


def test_refusals_are_one_line_naming_the_field(oci: Pack, registry, base_image: str) -> None:  # type: ignore[no-untyped-def]
    spec = spec_file(
        oci.cwd,
        f"apt = ImageSpec(name='test/oci-apt-{uid()}', registry={registry.host!r}, "
        f"base_image={base_image!r}, python_version='3.11', apt_packages=['curl'])\n",
    )
    proc = oci("build", str(spec))
    assert proc.returncode == 1
    assert "pack: apt: apt_packages: the oci builder runs no commands in the image" in proc.stderr
    assert "Traceback" not in proc.stderr
    unsure = spec_file(
        oci.cwd,
        f"app = ImageSpec(name='test/oci-py-{uid()}', registry={registry.host!r}, "
        f"base_image={base_image!r}, packages=['six'])\n",
        name="unsure.py",
    )
    proc = oci("build", str(unsure))
    assert proc.returncode == 1
    assert "python_version: the oci builder cannot see which Python base_image" in proc.stderr


def test_no_engine_says_to_use_the_oci_builder(oci: Pack, registry, base_image: str) -> None:  # type: ignore[no-untyped-def]
    spec = spec_file(
        oci.cwd,
        f"app = ImageSpec(name='test/oci-hint-{uid()}', registry={registry.host!r}, "
        f"base_image={base_image!r}, python_version='3.11', runtime=False, env={{'X': {uid()!r}}})\n",
    )
    proc = oci("build", "--builder", "docker", str(spec))
    assert proc.returncode == 1
    assert "this spec needs no engine: build it with `pack build --builder oci`" in proc.stderr
    [built] = oci.build(str(spec))  # and it does build without one
    assert built["status"] == "built"


def cold_env(folder: Path) -> dict[str, str]:
    """Empty pack and uv caches: nothing downloaded or built before."""
    return {"PACK_CACHE_DIR": str(folder / "pack"), "UV_CACHE_DIR": str(folder / "uv")}


def test_two_cold_builds_push_the_same_manifest_digest(
    oci: Pack, registry, base_image: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    digests = []
    for i in range(2):
        spec = spec_file(
            oci.cwd,
            f"app = ImageSpec(name='test/oci-repro-{uid()}', registry={registry.host!r}, "
            f"base_image={base_image!r}, python_version='3.11', packages=['six', 'iniconfig'])\n",
            name=f"spec{i}.py",
        )
        [out] = oci.build("--force", str(spec), env=cold_env(tmp_path / f"cold{i}"))
        digests.append(out["digest"].split("@")[1])
    assert digests[0] == digests[1]


@pytest.fixture()
def run_project(tmp_path: Path, registry, base_image: str, docker_engine, s3_env) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    from tests.integration.test_remote_docker import make_project

    project = make_project(tmp_path, registry, base_image, docker_engine, s3_env, {})
    wf = project.root / "wf.py"
    wf.write_text(
        wf.read_text().replace(
            'packages=["six", "idna"],',
            'packages=["six", "idna"], python_version="3.11", builder="oci", '
            f'env={{"OCI_RUN": "{uid()}"}},',
        )
    )
    assert 'builder="oci"' in wf.read_text()
    yield project


def built_by_oci(image: str) -> bool:
    ref = ImageRef.parse(image)
    _, body = manifest(image)
    assert ref.registry is not None
    history = config_of(ref.registry, ref.repository, body)["history"]
    return any(h.get("created_by", "").startswith("pack oci:") for h in history)


def test_pack_run_on_docker_runs_an_oci_built_image(run_project: Any) -> None:
    from tests.integration.test_remote_docker import check_reuse_flow

    check_reuse_flow(run_project, "docker")
    first = run_project.run_json("docker", "main", "--x", "1")
    assert built_by_oci(first["image"])


def test_pack_run_on_kubernetes_runs_an_oci_built_image(
    run_project: Any, kubeconfig: Path, tmp_path: Path
) -> None:
    from tests.integration.test_remote_docker import check_reuse_flow
    from tests.integration.test_remote_kubernetes import OPERATOR_TEMPLATE

    template = tmp_path / "operator-pod-template.yaml"
    template.write_text(OPERATOR_TEMPLATE)
    run_project.env.update({"PACK_KUBECONFIG": str(kubeconfig), "PACK_POD_TEMPLATE": str(template)})
    check_reuse_flow(run_project, "kubernetes")
    first = run_project.run_json("kubernetes", "main", "--x", "1")
    assert built_by_oci(first["image"])


EM_X86_64, EM_AARCH64 = 62, 183


def elf_machines(registry_host: str, repo: str, layers: list[dict[str, Any]]) -> dict[str, int]:
    """{path: ELF e_machine} of every shared object in the given layers (streamed)."""
    import tarfile
    import urllib.request

    found: dict[str, int] = {}
    for layer in layers:
        url = f"http://{registry_host}/v2/{repo}/blobs/{layer['digest']}"
        with urllib.request.urlopen(url, timeout=120) as resp:  # noqa: S310 - test registry
            with tarfile.open(fileobj=resp, mode="r|gz") as t:
                for member in t:
                    if member.isfile() and ".so" in member.name.rsplit("/", 1)[-1]:
                        head = t.extractfile(member).read(20)  # type: ignore[union-attr]
                        if head[:4] == b"\x7fELF":
                            found[member.name] = int.from_bytes(head[18:20], "little")
    return found


def test_arm64_image_built_here_holds_aarch64_wheels_and_an_arm64_config(
    oci: Pack, registry, multiarch_base_image: str
) -> None:  # type: ignore[no-untyped-def]
    repo = f"test/oci-arm64-{uid()}"
    spec = spec_file(
        oci.cwd,
        f"app = ImageSpec(name={repo!r}, registry={registry.host!r}, "
        f"base_image={multiarch_base_image!r}, python_version='3.11', platform='linux/arm64', "
        "packages=['numpy'])\n",
    )
    [out] = oci.build(str(spec))
    media, body = manifest(out["digest"])
    assert media == "application/vnd.docker.distribution.manifest.v2+json"
    config = config_of(registry.host, repo, body)
    assert (config["architecture"], config["os"]) == ("arm64", "linux")
    ours = body["layers"][1:]  # the first is the base's arm64 rootfs
    machines = elf_machines(registry.host, repo, ours)
    numpy = [p for p in machines if "site-packages/numpy/" in p]
    assert numpy, sorted(machines)[:5]
    assert set(machines.values()) == {EM_AARCH64}, {
        p: m for p, m in machines.items() if m != EM_AARCH64
    }
    _, index = manifest(multiarch_base_image)
    arm = next(m for m in index["manifests"] if m["platform"]["architecture"] == "arm64")
    _, arm_base = manifest(multiarch_base_image.rsplit(":", 1)[0] + "@" + arm["digest"])
    assert body["layers"][0]["digest"] == arm_base["layers"][0]["digest"]


def test_several_platforms_give_an_index_the_engine_runs(
    oci: Pack, registry, multiarch_base_image: str, docker_engine
) -> None:  # type: ignore[no-untyped-def]
    repo = f"test/oci-multi-{uid()}"
    spec = spec_file(
        oci.cwd,
        f"app = ImageSpec(name={repo!r}, registry={registry.host!r}, "
        f"base_image={multiarch_base_image!r}, python_version='3.11', "
        "platform='linux/amd64,linux/arm64', packages=['six'])\n",
    )
    [out] = oci.build(str(spec))
    media, index = manifest(out["ref"])
    assert media == "application/vnd.docker.distribution.manifest.list.v2+json"
    tagged = RegistryClient().lookup(ImageRef.parse(out["ref"]), ("linux/amd64", "linux/arm64"))
    assert out["digest"].split("@")[1] == str(tagged)  # the tag names the index
    platforms = sorted(m["platform"]["architecture"] for m in index["manifests"])
    assert platforms == ["amd64", "arm64"]
    for entry in index["manifests"]:
        _, child = manifest(f"{registry.host}/{repo}@{entry['digest']}")
        arch = config_of(registry.host, repo, child)["architecture"]
        assert arch == entry["platform"]["architecture"]
    # `pack build --check` sees both platforms; the engine picks its own from the index.
    again = oci("build", "--check", "-o", "json", str(spec))
    assert again.returncode == 0 and json.loads(again.stdout)[0]["status"] == "reused"
    text = docker_run(
        docker_engine, out["ref"], "python -c 'import six, platform; print(platform.machine())'"
    )
    assert text.strip().endswith("x86_64")


def _host_python(version: str) -> str:
    """A CPython `version` on this machine (PATH, else pyenv's versions folder)."""
    import glob
    import shutil

    for candidate in [
        shutil.which(f"python{version}"),
        *sorted(
            glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}"))
        ),
    ]:
        if candidate:
            probe = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
            )
            if probe.returncode == 0 and probe.stdout.strip() == version:
                return candidate
    from tests.integration.conftest import _unavailable

    _unavailable(f"Python {version}", "no python{version} on PATH or under ~/.pyenv/versions")
    raise AssertionError  # unreachable


@pytest.fixture(scope="session")
def host_venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """pack (this checkout, editable, with its oci extra) in venvs of Python 3.10 and 3.12."""
    from pack.imagespec.builders.oci.builder import find_uv

    root = Path(__file__).resolve().parents[2]
    uv = find_uv()
    out: dict[str, Path] = {}
    for version in ("3.10", "3.12"):
        python = _host_python(version)
        venv = tmp_path_factory.mktemp(f"host-{version}") / "venv"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
        for argv in (
            [uv, "venv", "--no-config", "--seed", "--python", python, str(venv)],
            [uv, "pip", "install", "--no-config", "--python", str(venv / "bin" / "python"),
             "-e", f"{root}[oci]"],
        ):  # fmt: skip
            proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
            assert proc.returncode == 0, proc.stderr[-3000:]
        out[version] = venv / "bin" / "python"
    return out


def test_host_pythons_310_and_312_push_the_same_manifest_digest(
    oci: Pack, registry, base_image: str, tmp_path: Path, host_venvs: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    """From empty caches, a pack running on 3.10 and one on 3.12 push identical images."""
    digests = {}
    for version, python in host_venvs.items():
        spec = spec_file(
            oci.cwd,
            f"app = ImageSpec(name='test/oci-hosts-{uid()}', registry={registry.host!r}, "
            f"base_image={base_image!r}, python_version='3.11', packages=['six', 'iniconfig'])\n",
            name=f"spec{version}.py",
        )
        proc = subprocess.run(
            [str(python), "-m", "pack", "build", "--force", "-o", "json", str(spec)],
            cwd=oci.cwd,
            env={**oci.env, **cold_env(tmp_path / f"cold-{version}")},
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "no Python 3.11 on this host" not in proc.stderr  # bytecode went in
        [out] = json.loads(proc.stdout)
        digests[version] = out["digest"].split("@")[1]
    assert digests["3.10"] == digests["3.12"], digests


def test_builds_unprivileged_inside_an_oci_built_image_with_the_same_digest(
    oci: Pack, registry, base_image: str, docker_engine, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """No engine, no root, no capabilities: the builder runs as nobody in a container of an
    image it built (pack and uv come with every such image), and pushes the very digest the
    same spec gets on this host."""
    [tool] = oci.build(
        str(
            spec_file(
                oci.cwd,
                f"tool = ImageSpec(name='test/oci-tool-{uid()}', registry={registry.host!r}, "
                f"base_image={base_image!r}, python_version='3.11')\n",
                name="tool.py",
            )
        )
    )
    work = tmp_path / "inside"
    work.mkdir()
    spec = spec_file(
        work,
        f"app = ImageSpec(name='test/oci-inside-{uid()}', registry={registry.host!r}, "
        f"base_image={base_image!r}, python_version='3.11', runtime=False, "
        "packages=['six', 'iniconfig'])\n",
    )
    work.chmod(0o755)
    spec.chmod(0o644)
    proc = docker_engine.run(
        "run", "--rm", "--network", "host", "--user", "65534:65534", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges", "--read-only", "--tmpfs", "/tmp",
        "-v", f"{work}:/work:ro", "-v", f"{HOST_CA}:/ca.pem:ro",
        "-e", "HOME=/tmp", "-e", "SSL_CERT_FILE=/ca.pem", "-e", "PACK_BUILD_CA_BUNDLE=/ca.pem",
        "-e", "PACK_CACHE_DIR=/tmp/cache", "-e", "UV_CACHE_DIR=/tmp/uv",
        "-w", "/tmp", tool["digest"],
        "pack", "build", "--builder", "oci", "-o", "json", "/work/spec.py",
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    [inside] = json.loads(proc.stdout)
    assert inside["status"] == "built"
    [here] = oci.build("--force", str(spec), env=cold_env(tmp_path / "here"))
    assert here["digest"].split("@")[1] == inside["digest"].split("@")[1]
