"""`pack build` against the real Docker engine and registries (scripts/test-infra up)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import subprocess
import sys
import tarfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pack.imagespec.ref import ImageRef
from pack.imagespec.registry import RegistryClient
from tests.integration.test_registry import FlakyProxy

pytestmark = pytest.mark.integration

HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def spec_file(folder: Path, body: str, name: str = "spec.py") -> Path:
    path = folder / name
    path.write_text("from pack import ImageSpec\n\n" + body)
    return path


class Pack:
    """Runs the `pack` CLI in a subprocess, as a user would, with the test servers configured."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env

    def __call__(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pack.cli import main; sys.exit(main())",
                *args,
            ],
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=900,
        )

    def build(self, *args: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
        proc = self("build", "-o", "json", *args, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout)  # type: ignore[no-any-return]


@pytest.fixture()
def pack(tmp_path: Path, docker_engine, registry, base_image: str) -> Pack:  # type: ignore[no-untyped-def]
    import os

    env = {
        **os.environ,
        "PACK_DOCKER_HOST": docker_engine.host,
        "PACK_DOCKER_CLI": docker_engine.cli,
        "PACK_BUILD_CA_BUNDLE": str(HOST_CA),
        "DOCKER_CONFIG": str(tmp_path / "no-docker-config"),
    }
    env.pop("PACK_BUILD_CACHE", None)
    work = tmp_path / "project"
    work.mkdir()
    return Pack(work, env)


def uid() -> str:
    return uuid.uuid4().hex[:10]


def test_build_push_run_reuse_and_rebuild_on_change(
    pack: Pack, registry, base_image: str, docker_engine
) -> None:  # type: ignore[no-untyped-def]
    repo = f"test/small-{uid()}"
    spec = spec_file(
        pack.cwd,
        f"small = ImageSpec(name={repo!r}, registry={registry.host!r}, "
        f"base_image={base_image!r}, packages=['six', 'idna'])\n",
    )
    [out] = pack.build(str(spec))
    assert out["status"] == "built" and out["variable"] == "small"
    ref = ImageRef.parse(out["ref"])
    assert out["digest"] == f"{ref.name}@{RegistryClient().lookup(ref)}"
    assert RegistryClient().exists(ref)
    # The image runs, has the packages and the pack runtime.
    run = docker_engine.run(
        "run",
        "--rm",
        "--network",
        "host",
        out["digest"],
        "python",
        "-c",
        "import six, idna, pack.launcher.entrypoint; print('ok', six.__name__, idna.__name__)",
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "ok six idna" in run.stdout


def test_second_build_reuses_changed_spec_builds_again(
    pack: Pack, registry, base_image: str
) -> None:  # type: ignore[no-untyped-def]
    # runtime=False: the tag must not move if someone edits pack's sources meanwhile.
    repo = f"test/reuse-{uid()}"
    body = (
        f"app = ImageSpec(name={repo!r}, registry={registry.host!r}, base_image={base_image!r}, "
        "runtime=False, env={{'MARK': {mark!r}}}, commands=['echo built > /built.txt'])\n"
    )
    spec = spec_file(pack.cwd, body.format(mark=uid()))
    [first] = pack.build(str(spec))
    assert first["status"] == "built"
    second = pack("build", str(spec))
    assert second.returncode == 0
    assert "reused" in second.stdout and first["digest"].split("@")[1] in second.stdout
    assert "#1 " not in second.stderr  # nothing was built
    # Without the local record, the registry HEAD answers.
    for record in Path(pack.env["PACK_CACHE_DIR"]).glob("image-record.json"):
        record.unlink()
    [third] = pack.build(str(spec))
    assert (third["status"], third["digest"]) == ("reused", first["digest"])
    spec_file(pack.cwd, body.format(mark=uid()))
    [changed] = pack.build(str(spec))
    assert changed["status"] == "built" and changed["ref"] != first["ref"]


def test_check_exit_codes(pack: Pack, registry, base_image: str) -> None:  # type: ignore[no-untyped-def]
    spec = spec_file(
        pack.cwd,
        f"app = ImageSpec(name='test/check-{uid()}', registry={registry.host!r}, "
        f"base_image={base_image!r}, runtime=False, env={{'X': {uid()!r}}})\n",
    )
    missing = pack("build", "--check", "-o", "json", str(spec))
    assert missing.returncode == 1, missing.stderr
    assert json.loads(missing.stdout)[0]["status"] == "missing"
    assert RegistryClient().exists(ImageRef.parse(json.loads(missing.stdout)[0]["ref"])) is False
    pack.build(str(spec))
    present = pack("build", "--check", "-o", "json", str(spec))
    assert present.returncode == 0 and json.loads(present.stdout)[0]["status"] == "reused"


def test_check_asks_the_registry_not_the_local_record(
    pack: Pack, registry, base_image: str
) -> None:  # type: ignore[no-untyped-def]
    import urllib.request

    spec = spec_file(
        pack.cwd,
        f"app = ImageSpec(name='test/gone-{uid()}', registry={registry.host!r}, "
        f"base_image={base_image!r}, runtime=False, env={{'X': {uid()!r}}})\n",
    )
    [built] = pack.build(str(spec))
    assert built["status"] == "built"
    ref = ImageRef.parse(built["digest"])
    # Someone deletes the image from the registry; the local record still says "built".
    delete = urllib.request.Request(
        f"http://{registry.host}/v2/{ref.repository}/manifests/{ref.digest}", method="DELETE"
    )
    with urllib.request.urlopen(delete, timeout=10) as resp:  # noqa: S310 - loopback registry
        assert resp.status == 202
    assert RegistryClient().exists(ImageRef.parse(built["ref"])) is False
    check = pack("build", "--check", "-o", "json", str(spec))
    assert check.returncode == 1, check.stderr
    assert json.loads(check.stdout)[0]["status"] == "missing"
    # A build still uses the record (it saves work), and --force puts the image back.
    again = pack.build("--force", str(spec))
    assert again[0]["status"] == "built"
    [present] = pack.build("--check", str(spec))
    assert present["status"] == "reused"


def test_renamed_spec_is_copied_in_the_registry(pack: Pack, registry, base_image: str) -> None:  # type: ignore[no-untyped-def]
    mark = uid()
    template = (
        "app = ImageSpec(name={name!r}, registry="
        + repr(registry.host)
        + ", base_image="
        + repr(base_image)
        + ", runtime=False, env={{'X': "
        + repr(mark)
        + "}})\n"
    )
    spec = spec_file(pack.cwd, template.format(name=f"test/old-{mark}"))
    [old] = pack.build(str(spec))
    spec_file(pack.cwd, template.format(name=f"test/new-{mark}"))
    [new] = pack.build(str(spec))
    assert new["status"] == "copied"
    assert new["digest"].split("@")[1] == old["digest"].split("@")[1]
    assert RegistryClient().exists(ImageRef.parse(new["ref"]))


def test_500_then_200_registry_is_retried_by_pack_build(
    pack: Pack, registry, base_image: str
) -> None:  # type: ignore[no-untyped-def]
    mark = uid()
    template = (
        "app = ImageSpec(name='test/flaky-"
        + mark
        + "', registry={host!r}, base_image="
        + repr(base_image)
        + ", runtime=False, env={{'X': "
        + repr(mark)
        + "}})\n"
    )
    spec = spec_file(pack.cwd, template.format(host=registry.host))
    [built] = pack.build(str(spec))
    proxy = FlakyProxy(registry.host, fail_first=1)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        spec_file(pack.cwd, template.format(host=proxy.host))
        check = pack("build", "--check", "-o", "json", str(spec))
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert check.returncode == 0, check.stderr
    [out] = json.loads(check.stdout)
    assert out["status"] == "reused"
    assert out["digest"].split("@")[1] == built["digest"].split("@")[1]
    assert proxy.requests[0][2] == 500 and any(s == 200 for _, _, s in proxy.requests[1:])


def docker_config(folder: Path, host: str, user: str, password: str) -> Path:
    folder.mkdir(parents=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return folder


def test_basic_auth_registry_with_docker_config_and_without(
    pack: Pack, auth_registry, base_image: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    spec = spec_file(
        pack.cwd,
        f"app = ImageSpec(name='test/auth-{uid()}', registry={auth_registry.host!r}, "
        f"base_image={base_image!r}, runtime=False, env={{'X': {uid()!r}}})\n",
    )
    denied = pack("build", str(spec))
    assert denied.returncode == 1
    assert f"registry {auth_registry.host}: 401 Unauthorized" in denied.stderr
    assert "Traceback" not in denied.stderr
    conf = docker_config(
        tmp_path / "dockercfg", auth_registry.host, auth_registry.username, auth_registry.password
    )
    env = {"DOCKER_CONFIG": str(conf)}
    [out] = pack.build(str(spec), env=env)
    assert out["status"] == "built"
    [again] = pack.build("--check", str(spec), env=env)
    assert again["status"] == "reused"
    assert auth_registry.password not in json.dumps([out, again])


@dataclass
class ImageScan:
    """Every file of every layer (and the config) of an image, as `docker save` writes it."""

    files: list[tuple[str, bytes]]
    layers_read: int
    layers_in_image: int


def scan_image(docker_engine, ref: str, tmp_path: Path) -> ImageScan:  # type: ignore[no-untyped-def]
    """Reads each layer tar listed in the save's manifest.json; the counts say how many.

    A scan that reads no layer proves nothing: callers assert layers_read equals the
    number of layers the engine reports for the image.
    """
    image_tar = tmp_path / f"image-{uid()}.tar"
    docker_engine.run("save", "-o", str(image_tar), ref)
    inspect = json.loads(docker_engine.run("image", "inspect", ref).stdout)
    files: list[tuple[str, bytes]] = []
    read = 0
    with tarfile.open(image_tar) as outer:
        [manifest] = json.loads(outer.extractfile("manifest.json").read())  # type: ignore[union-attr]
        for member in outer.getmembers():
            if member.isfile():
                files.append((member.name, outer.extractfile(member).read()))  # type: ignore[union-attr]
        for layer_name in manifest["Layers"]:
            data = outer.extractfile(layer_name).read()  # type: ignore[union-attr]
            with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                for inner in layer.getmembers():
                    if inner.isfile():
                        f = layer.extractfile(inner)
                        files.append((f"{layer_name}:{inner.name}", f.read() if f else b""))
            read += 1
    image_tar.unlink()
    return ImageScan(files, read, len(inspect[0]["RootFS"]["Layers"]))


def test_no_secret_or_ca_bundle_in_any_layer_log_or_error(
    pack: Pack, registry, base_image: str, docker_engine, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    marker = f"pack-test-ca-{uid()}"
    ca = tmp_path / f"{marker}.pem"
    # The real bundle (PyPI needs it here) plus a unique comment line PEM parsers skip.
    ca.write_bytes(HOST_CA.read_bytes() + f"\n# {marker}\n".encode())
    secret_value = f"s3cret-{uid()}"
    secret_file = pack.cwd / "token.txt"
    secret_file.write_text(secret_value)
    digest = hashlib.sha256(secret_value.encode()).hexdigest()
    spec = spec_file(
        pack.cwd,
        f"app = ImageSpec(name='test/secret-{uid()}', registry={registry.host!r}, "
        f"base_image={base_image!r}, runtime=False, packages=['six'], "
        f"secret_mounts={{'token': 'token.txt'}}, "
        f"commands=['sha256sum /run/secrets/token | grep -q {digest} && echo secret-seen'])\n",
    )
    proc = pack("build", "-o", "json", str(spec), env={"PACK_BUILD_CA_BUNDLE": str(ca)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "secret-seen" in proc.stderr  # the RUN step really read the secret
    [out] = json.loads(proc.stdout)
    for text in (proc.stdout, proc.stderr):
        assert secret_value not in text and marker not in text
    docker_engine.run("pull", out["digest"])
    scan = scan_image(docker_engine, out["digest"], tmp_path)
    # Base layers + the preamble + apt-less installs + the command: every one was read.
    assert scan.layers_read == scan.layers_in_image >= 3
    pem_sample = HOST_CA.read_bytes()[-600:-100]  # a piece of the last certificate
    for name, data in scan.files:
        assert secret_value.encode() not in data, name
        assert marker.encode() not in data, name
        assert b"/run/secrets/pack-ca" not in data or name.endswith(".json"), name
        if ":" in name and not name.split(":", 1)[1].endswith("ca-certificates.crt"):
            # The base image ships Debian's bundle legitimately; nowhere else may it appear.
            assert pem_sample not in data, name
    history = docker_engine.run("history", "--no-trunc", out["digest"]).stdout
    inspect = docker_engine.run("image", "inspect", out["digest"]).stdout
    for text in (history, inspect):
        assert secret_value not in text and marker not in text


def test_registry_build_cache_survives_a_pruned_engine(
    pack: Pack, registry, base_image: str, docker_engine
) -> None:  # type: ignore[no-untyped-def]
    mark = uid()
    cache = f"{registry.host}/cache/{mark}"
    spec = spec_file(
        pack.cwd,
        f"app = ImageSpec(name='test/cached-{mark}', registry={registry.host!r}, "
        f"base_image={base_image!r}, runtime=False, "
        f"commands=['echo {mark} > /step1', 'echo two > /step2', 'echo three > /step3'])\n",
    )
    env = {"PACK_BUILD_CACHE": cache}
    first = pack("build", "-o", "json", str(spec), env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    [out] = json.loads(first.stdout)
    assert RegistryClient().exists(ImageRef.parse(f"{cache}:test-cached-{mark}"))
    # A fresh CI runner: no build cache, no local image.
    docker_engine.run("builder", "prune", "-af")
    docker_engine.run("image", "rm", "-f", out["ref"], f"{cache}:test-cached-{mark}", check=False)
    again = pack("build", "--force", "-o", "json", str(spec), env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    run_steps = [line for line in again.stderr.splitlines() if "RUN echo" in line]
    assert len(run_steps) == 3
    cached = [line for line in again.stderr.splitlines() if line.rstrip().endswith("CACHED")]
    assert len(cached) >= 3, again.stderr[-3000:]
    # The RUN steps' own cache-key lines say CACHED: their layers came from the registry.
    for step in run_steps:
        number = step.split()[1]  # "[app] #7 [stage-0 2/4] RUN ..." -> "#7"
        assert any(line.split()[1:3] == [number, "CACHED"] for line in cached), (
            f"{step} was rebuilt"
        )


def test_local_only_spec_builds_into_the_engine_and_is_reused(
    pack: Pack, base_image: str, docker_engine
) -> None:  # type: ignore[no-untyped-def]
    spec = spec_file(
        pack.cwd,
        f"app = ImageSpec(name='test/local-{uid()}', base_image={base_image!r}, runtime=False, "
        f"env={{'X': {uid()!r}}})\n",
    )
    [built] = pack.build(str(spec))
    assert built["status"] == "built" and built["digest"] is None
    assert docker_engine.run("image", "inspect", built["ref"], check=False).returncode == 0
    for record in Path(pack.env["PACK_CACHE_DIR"]).glob("image-record.json"):
        record.unlink()
    [again] = pack.build(str(spec))
    assert again["status"] == "reused"  # found by `docker image inspect`, nothing pushed
    docker_engine.run("image", "rm", built["ref"], check=False)


def test_cached_build_imports_nothing_heavy(pack: Pack, registry, base_image: str) -> None:  # type: ignore[no-untyped-def]
    spec = spec_file(
        pack.cwd,
        f"app = ImageSpec(name='test/light-{uid()}', registry={registry.host!r}, "
        f"base_image={base_image!r}, runtime=False, env={{'X': {uid()!r}}})\n",
    )
    pack.build(str(spec))
    code = (
        "import sys\nfrom pack.cli import main\ntry:\n    main(['build', sys.argv[1]])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print(' '.join(m for m in sys.argv[2:] if m in sys.modules) or 'none')\n"
    )
    heavy = ["jinja2", "rich", "boto3", "kubernetes", "docker", "requests"]
    # What only a build or a failing spec needs: a reused image loads none of it.
    unused = ["pack.tracebacks", "pack.scratch", "secrets"]
    proc = subprocess.run(
        [sys.executable, "-c", code, str(spec), *heavy, *unused],
        cwd=pack.cwd,
        env=pack.env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip().splitlines()[-1] == "none", proc.stdout


def tiny_wheel(name: str, version: str) -> tuple[str, bytes]:
    """A minimal pure-Python wheel: `import NAME` gives VERSION."""
    import zipfile

    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in files.items()
    )
    files[f"{dist}/RECORD"] = (record + f"{dist}/RECORD,,\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return f"{name}-{version}-py3-none-any.whl", buf.getvalue()


class TokenIndex(http.server.ThreadingHTTPServer):
    """A PEP 503 index whose URL holds a token in its path (as https://pypi.fury.io/TOKEN/
    does). It serves one wheel; any other project is redirected to PyPI, so the build's
    own tools (uv) still install. Records every path it was asked for."""

    def __init__(self, token: str, project: str) -> None:
        super().__init__(("127.0.0.1", 0), _IndexHandler)
        self.token, self.project = token, project
        self.wheel_name, self.wheel = tiny_wheel(project, "1.0")
        self.paths: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{self.token}/simple/"


class _IndexHandler(http.server.BaseHTTPRequestHandler):
    server: TokenIndex

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET(head=True)

    def do_GET(self, head: bool = False) -> None:  # noqa: N802
        self.server.paths.append(self.path)
        prefix = f"/{self.server.token}/"
        if not self.path.startswith(prefix):
            self.send_error(404)
            return
        rest = self.path[len(prefix) :].split("?")[0]
        if rest == f"files/{self.server.wheel_name}":
            body, kind = self.server.wheel, "application/octet-stream"
        elif rest.rstrip("/") == f"simple/{self.server.project}":
            sha = hashlib.sha256(self.server.wheel).hexdigest()
            link = f"../../files/{self.server.wheel_name}#sha256={sha}"
            body = (
                f'<html><body><a href="{link}">{self.server.wheel_name}</a></body></html>'.encode()
            )
            kind = "text/html"
        elif rest.startswith("simple/"):
            self.send_response(302)
            self.send_header("Location", f"https://pypi.org/{rest}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


def test_index_url_token_reaches_the_build_only_as_a_secret(
    pack: Pack, registry, base_image: str, docker_engine, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    token = f"tok-{uid()}"
    project = f"packidx{uid()}"
    index = TokenIndex(token, project)
    threading.Thread(target=index.serve_forever, daemon=True).start()
    try:
        spec = spec_file(
            pack.cwd,
            f"app = ImageSpec(name='test/index-{uid()}', registry={registry.host!r}, "
            f"base_image={base_image!r}, runtime=False, packages=[{project!r}], "
            f"pip_index_url={index.url!r})\n",
        )
        dry = pack("build", "--dry-run", str(spec))
        proc = pack("build", "-o", "json", str(spec))
    finally:
        index.shutdown()
        index.server_close()
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The index was really used, through the URL with the token.
    assert f"/{token}/simple/{project}/" in index.paths
    assert f"/{token}/files/{index.wheel_name}" in index.paths
    [out] = json.loads(proc.stdout)
    for text in (dry.stdout, dry.stderr, proc.stdout, proc.stderr):
        assert token not in text
    assert "--mount=type=secret,id=pack-index-url" in dry.stdout
    run = docker_engine.run(
        "run", "--rm", out["digest"], "python", "-c", f"import {project}; print({project}.VERSION)"
    )
    assert run.stdout.strip() == "1.0"
    history = docker_engine.run("history", "--no-trunc", out["digest"]).stdout
    inspect = docker_engine.run("image", "inspect", out["digest"]).stdout
    assert "PACK_INDEX=" in history  # the install step is there, with the URL's identity only
    assert token not in history and token not in inspect
    scan = scan_image(docker_engine, out["digest"], tmp_path)
    assert scan.layers_read == scan.layers_in_image >= 3
    assert [name for name, data in scan.files if token.encode() in data] == []
    assert any(name.endswith(f"{project}/__init__.py") for name, _ in scan.files)
