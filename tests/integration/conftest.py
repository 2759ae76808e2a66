"""Real servers for integration tests.

Each fixture probes its server and skips with the reason when it is absent; with
PACK_REQUIRE_INFRA=1 (set by .ci/run) an absent server fails the test instead.
`scripts/test-infra up` and `scripts/test-cluster up` start them on this machine;
the PACK_TEST_* variables point the same suite at servers elsewhere.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

RUN_DIR = Path(os.environ.get("PACK_INFRA_RUN_DIR", "/run/pack-infra"))


def _unavailable(what: str, why: str) -> None:
    message = (
        f"{what} unavailable: {why} (start it with scripts/test-infra up / scripts/test-cluster up)"
    )
    if os.environ.get("PACK_REQUIRE_INFRA") == "1":
        pytest.fail(f"PACK_REQUIRE_INFRA=1 but {message}", pytrace=False)
    pytest.skip(message)


def _http_ok(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - loopback test servers
            resp.read(1)
        return None
    except urllib.error.HTTPError as exc:
        return None if exc.code < 500 else f"{url} answered {exc.code}"
    except OSError as exc:
        return f"{url}: {exc}"


@dataclass(frozen=True)
class Registry:
    host: str  # host:port, plain HTTP

    def repo(self, name: str) -> str:
        return f"{self.host}/{name}"


@dataclass(frozen=True)
class AuthRegistry:
    host: str
    username: str
    password: str


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key: str = "testing"
    secret_key: str = "testing"
    region: str = "us-east-1"

    def client(self) -> Any:
        """A boto3 S3 client of this server, whatever the environment says."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )


@dataclass(frozen=True)
class DockerEngine:
    host: str  # DOCKER_HOST value
    cli: str  # a docker CLI with BuildKit support

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host, "DOCKER_BUILDKIT": "1"}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.cli, *args], env=self.env(), check=check, capture_output=True, text=True
        )


@pytest.fixture(scope="session")
def registry() -> Registry:
    host = os.environ.get("PACK_TEST_REGISTRY", "127.0.0.1:5000")
    problem = _http_ok(f"http://{host}/v2/")
    if problem:
        _unavailable("OCI registry", problem)
    return Registry(host)


@pytest.fixture(scope="session")
def auth_registry() -> AuthRegistry:
    host = os.environ.get("PACK_TEST_AUTH_REGISTRY", "127.0.0.1:5001")
    try:
        urllib.request.urlopen(f"http://{host}/v2/", timeout=3)  # noqa: S310
        _unavailable("basic-auth registry", f"{host} did not ask for credentials")
    except urllib.error.HTTPError as exc:
        if exc.code != 401:
            _unavailable("basic-auth registry", f"{host} answered {exc.code}")
    except OSError as exc:
        _unavailable("basic-auth registry", f"{host}: {exc}")
    return AuthRegistry(
        host,
        os.environ.get("PACK_TEST_AUTH_USER", "pack"),
        os.environ.get("PACK_TEST_AUTH_PASSWORD", "pack-test-password"),
    )


@pytest.fixture(scope="session")
def s3_server() -> S3Server:
    endpoint = os.environ.get("PACK_TEST_S3_ENDPOINT", "http://127.0.0.1:9000")
    problem = _http_ok(endpoint + "/")
    if problem:
        _unavailable("S3 server", problem)
    return S3Server(endpoint)


@pytest.fixture()
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """boto3's own settings pointed at the test server, as a user would set them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", s3_server.region)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint_url)
    yield s3_server


def _docker_cli() -> str | None:
    # Debian's 20.10 CLI builds with the engine's BuildKit; newer CLIs need buildx for that.
    for candidate in (os.environ.get("PACK_DOCKER_CLI"), "/usr/bin/docker", shutil.which("docker")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def docker_engine() -> DockerEngine:
    host = os.environ.get("DOCKER_HOST") or f"unix://{RUN_DIR / 'docker.sock'}"
    cli = _docker_cli()
    if cli is None:
        _unavailable("Docker engine", "no docker CLI found")
        raise AssertionError  # unreachable
    if host.startswith("unix://"):
        sock = host[len("unix://") :]
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(3)
                s.connect(sock)
        except OSError as exc:
            _unavailable("Docker engine", f"{sock}: {exc}")
    engine = DockerEngine(host, cli)
    probe = engine.run("version", "--format", "{{.Server.Version}}", check=False)
    if probe.returncode != 0:
        _unavailable("Docker engine", probe.stderr.strip() or "docker version failed")
    return engine


@pytest.fixture(scope="session")
def base_image(registry: Registry, docker_engine: DockerEngine) -> str:
    """The offline Debian + python3 image that scripts/test-infra pushes to the registry."""
    ref = os.environ.get("PACK_TEST_BASE_IMAGE", f"{registry.host}/pack/debian-python:bookworm")
    repo, _, tag = ref.rpartition(":")
    host, _, name = repo.partition("/")
    try:
        req = urllib.request.Request(
            f"http://{host}/v2/{name}/manifests/{tag}",
            method="HEAD",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        urllib.request.urlopen(req, timeout=3)  # noqa: S310
    except OSError as exc:
        _unavailable("offline base image", f"{ref}: {exc}")
    return ref


@pytest.fixture(scope="session")
def multiarch_base_image(registry: Registry) -> str:
    """A base with linux/amd64 and linux/arm64 (scripts/test-infra up pushes it)."""
    ref = os.environ.get(
        "PACK_TEST_MULTIARCH_BASE_IMAGE", f"{registry.host}/pack/debian-python:bookworm-multi"
    )
    repo, _, tag = ref.rpartition(":")
    host, _, name = repo.partition("/")
    try:
        req = urllib.request.Request(
            f"http://{host}/v2/{name}/manifests/{tag}",
            method="HEAD",
            headers={
                "Accept": "application/vnd.docker.distribution.manifest.list.v2+json, "
                "application/vnd.oci.image.index.v1+json"
            },
        )
        urllib.request.urlopen(req, timeout=3)  # noqa: S310
    except OSError as exc:
        _unavailable("multi-platform base image", f"{ref}: {exc}")
    return ref


@pytest.fixture(scope="session")
def kubeconfig() -> Path:
    path = Path(os.environ.get("PACK_TEST_KUBECONFIG", str(RUN_DIR / "kubeconfig")))
    if not path.is_file():
        _unavailable("Kubernetes cluster", f"no kubeconfig at {path}")
    return path


@dataclass(frozen=True)
class Browser:
    """Debian's chromium, headless, driven by Playwright (which never downloads a browser)."""

    executable: str
    # The flags that work on this kind of machine (closed network, root, no GPU).
    args: tuple[str, ...] = (
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    )


@pytest.fixture(scope="session")
def browser_binary() -> Browser:
    path = os.environ.get("PACK_TEST_CHROMIUM", "/usr/bin/chromium")
    if not Path(path).is_file():
        _unavailable("headless chromium", f"no browser at {path} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("headless chromium", "playwright is not installed (pip install -e '.[test]')")
    return Browser(path)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests keep what a person may want to look at (screenshots)."""
    root = Path(__file__).resolve().parents[2]
    path = Path(os.environ.get("PACK_TEST_ARTIFACTS", str(root / "build" / "test-artifacts")))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def page(browser_binary: Browser) -> Iterator[Any]:
    """A page of a fresh headless chromium (Playwright)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=browser_binary.executable, args=list(browser_binary.args)
        )
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 900})
        finally:
            browser.close()


def pack_cmd(*args: str) -> list[str]:
    """The argv of a `pack` command in this interpreter (a real process, its own cwd/env)."""
    return [sys.executable, "-m", "pack", *args]


def run_pack(
    root: Path, env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run `pack ARGS` in `root` with exactly `env`, capturing its output."""
    return subprocess.run(
        pack_cmd(*args), cwd=root, env=env, capture_output=True, text=True, timeout=timeout
    )
