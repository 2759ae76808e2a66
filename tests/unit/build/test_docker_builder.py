"""DockerBuilder command lines, detection and failure reports through a fake runner."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from pack.errors import BuildError, UsageError
from pack.imagespec.builders.base import BuildRequest, Secret
from pack.imagespec.builders.docker import (
    CommandResult,
    DockerBuilder,
    Engine,
    assemble_context,
    build_argv,
    failing_step_tail,
    pushed_digest,
)
from pack.imagespec.ref import ImageRef

REF = ImageRef.parse("127.0.0.1:5000/team/img:abc")
DIGEST = "sha256:" + "b" * 64


class FakeDocker:
    def __init__(
        self,
        *,
        buildx: bool = False,
        version: str = "20.10.24",
        networks: str = "host\nnone",
        build_rc: int = 0,
        build_lines: Sequence[str] = (),
    ) -> None:
        self.calls: list[list[str]] = []
        self.envs: list[Mapping[str, str]] = []
        self.buildx, self.version, self.networks = buildx, version, networks
        self.build_rc, self.build_lines = build_rc, list(build_lines)
        self.secret_contents: dict[str, str] = {}

    def __call__(
        self, argv: Sequence[str], env: Mapping[str, str], on_line: Callable[[str], None] | None
    ) -> CommandResult:
        argv = list(argv)
        self.calls.append(argv)
        self.envs.append(env)
        sub = argv[1:3]
        if sub == ["buildx", "version"]:
            return CommandResult(0 if self.buildx else 1, ("v0.12",) if self.buildx else ())
        if sub[0] == "version":
            return CommandResult(0, (self.version,))
        if sub[0] == "network":
            return CommandResult(0, tuple(self.networks.splitlines()))
        if sub[0] in ("build", "buildx"):
            for i, a in enumerate(argv):
                if a == "--secret":
                    spec = dict(kv.split("=", 1) for kv in argv[i + 1].split(","))
                    self.secret_contents[spec["id"]] = Path(spec["src"]).read_text()
            for line in self.build_lines:
                if on_line:
                    on_line(line)
            return CommandResult(self.build_rc, tuple(self.build_lines))
        if sub[0] == "push":
            line = f"abc: digest: {DIGEST} size: 1161"
            if on_line:
                on_line(line)
            return CommandResult(0, ("Pushed", line))
        return CommandResult(0, ())


class Lines:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def line(self, label: str, text: str) -> None:
        self.seen.append((label, text))


def request(**kw: object) -> BuildRequest:
    base: dict[str, object] = dict(label="img", ref=REF, dockerfile="FROM scratch\n", context={})
    base.update(kw)
    return BuildRequest(**base)  # type: ignore[arg-type]


def test_legacy_cli_builds_with_buildkit_host_network_secrets_and_inline_cache(
    tmp_path: Path,
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("CERT")
    fake = FakeDocker(build_lines=["#5 [2/3] RUN true", "#5 DONE 0.1s"])
    builder = DockerBuilder(cli="/usr/bin/docker", env={"DOCKER_BUILDKIT": "1"}, runner=fake)
    progress = Lines()
    result = builder.build(
        request(
            platforms=("linux/amd64",),
            secrets=(
                Secret("pack-ca", source=ca),
                Secret("pack-index-url", value="https://u:pw@idx/simple"),
            ),
            cache_ref=ImageRef.parse("127.0.0.1:5000/cache/img:img"),
        ),
        progress,
    )
    build = next(c for c in fake.calls if c[1] == "build")
    assert build[:4] == ["/usr/bin/docker", "build", "--progress", "plain"]
    assert ["--network", "host"] == build[build.index("--network") : build.index("--network") + 2]
    assert "--platform" in build and "linux/amd64" in build
    assert [
        "--build-arg",
        "BUILDKIT_INLINE_CACHE=1",
        "--cache-from",
        "127.0.0.1:5000/cache/img:img",
    ] == [
        a
        for a in build
        if a
        in {
            "--build-arg",
            "BUILDKIT_INLINE_CACHE=1",
            "--cache-from",
            "127.0.0.1:5000/cache/img:img",
        }
    ]
    # Secret values reach the build through files, never the command line.
    assert fake.secret_contents == {"pack-ca": "CERT", "pack-index-url": "https://u:pw@idx/simple"}
    assert not any("u:pw" in a for call in fake.calls for a in call)
    assert [c[1:3] for c in fake.calls if c[1] in ("push", "tag")] == [
        ["push", str(REF)],
        ["tag", str(REF)],
        ["push", "127.0.0.1:5000/cache/img:img"],
    ]
    assert str(result.digest) == DIGEST and str(result.ref) == f"{REF}@{DIGEST}"
    assert ("img", "#5 [2/3] RUN true") in progress.seen


def test_failure_raises_build_error_with_the_failing_steps_tail() -> None:
    lines = [
        "#4 [1/3] FROM base",
        "#4 DONE 0.0s",
        "#6 [2/3] RUN pip install nope",
        *[f"#6 0.{i} noise line {i}" for i in range(40)],
        "#6 1.2 ERROR: No matching distribution found for nope",
        "#6 ERROR: executor failed running [/bin/sh -c pip install nope]: exit code: 1",
        "#7 [3/3] RUN other",
        "#7 CANCELED",
        "error: failed to solve: executor failed running: exit code: 1",
    ]
    fake = FakeDocker(build_rc=1, build_lines=lines)
    builder = DockerBuilder(cli="/usr/bin/docker", env={}, runner=fake)
    with pytest.raises(BuildError) as info:
        builder.build(request(), Lines())
    message = str(info.value)
    assert "No matching distribution found for nope" in message
    assert "#6 [2/3] RUN pip install nope" in message  # the step's title is kept
    assert "noise line 0" not in message  # only the tail
    assert "#7 [3/3]" not in message and "error: failed to solve" in message
    assert not any(c[1] == "push" for c in fake.calls)


def test_buildx_cli_pushes_multi_platform_with_registry_cache(tmp_path: Path) -> None:
    engine = Engine("/usr/local/bin/docker", buildx=True, network=None)
    argv = build_argv(
        engine,
        request(platforms=("linux/amd64", "linux/arm64"), cache_ref=ImageRef.parse("r:5000/c:x")),
        dockerfile=tmp_path / "D",
        context_dir=tmp_path / "ctx",
        secret_files={},
        iidfile=tmp_path / "i",
        metadata_file=tmp_path / "m",
    )
    assert argv[1:3] == ["buildx", "build"] and "--push" in argv
    assert "linux/amd64,linux/arm64" in argv
    assert "type=registry,ref=r:5000/c:x,mode=max" in argv and "--network" not in argv


def test_legacy_cli_refuses_multi_platform(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="needs buildx"):
        build_argv(
            Engine("/usr/bin/docker", buildx=False, network="host"),
            request(platforms=("linux/amd64", "linux/arm64")),
            dockerfile=tmp_path / "D",
            context_dir=tmp_path,
            secret_files={},
            iidfile=tmp_path / "i",
            metadata_file=tmp_path / "m",
        )


def test_new_cli_without_buildx_is_refused_with_a_hint() -> None:
    fake = FakeDocker(version="28.2.2")
    with pytest.raises(UsageError, match="no buildx"):
        DockerBuilder(cli="/usr/local/bin/docker", env={}, runner=fake).engine()


def test_engine_with_bridge_uses_default_network() -> None:
    fake = FakeDocker(networks="bridge\nhost\nnone")
    assert DockerBuilder(cli="/usr/bin/docker", env={}, runner=fake).engine().network is None


def test_context_holds_exactly_the_listed_files_with_modes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o755)
    (src / "unlisted.txt").write_text("x")
    ctx = tmp_path / "ctx"
    assemble_context({"copy/bin/run.sh": src / "run.sh"}, ctx)
    assert sorted(p.relative_to(ctx).as_posix() for p in ctx.rglob("*") if p.is_file()) == [
        "copy/bin/run.sh"
    ]
    assert (ctx / "copy/bin/run.sh").stat().st_mode & 0o111
    with pytest.raises(BuildError, match="escapes"):
        assemble_context({"../evil": src / "run.sh"}, tmp_path / "ctx2")


def test_pure_parsers() -> None:
    assert str(pushed_digest(["x", f"v1: digest: {DIGEST} size: 3"])) == DIGEST
    assert pushed_digest(["nothing"]) is None
    assert failing_step_tail(["a", "", "b"]) == ["a", "b"]


def test_detected_engine_is_remembered_in_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "docker-engine.json"
    fake = FakeDocker()
    first = DockerBuilder(
        cli="/usr/bin/docker", env={"DOCKER_HOST": "unix:///x"}, runner=fake, state_file=state
    )
    assert first.engine() == Engine("/usr/bin/docker", False, "host")
    probes = len(fake.calls)
    second = DockerBuilder(
        cli="/usr/bin/docker", env={"DOCKER_HOST": "unix:///x"}, runner=fake, state_file=state
    )
    assert second.engine() == Engine("/usr/bin/docker", False, "host")
    assert len(fake.calls) == probes  # no docker call the second time
    other_host = DockerBuilder(
        cli="/usr/bin/docker", env={"DOCKER_HOST": "unix:///y"}, runner=fake, state_file=state
    )
    other_host.engine()
    assert len(fake.calls) > probes  # another engine is probed again


def test_build_output_never_shows_an_index_url_a_tool_echoed() -> None:
    url = "https://pypi.fury.io/tok-path-1/simple/"
    extra = "https://u:tok-pass-2@gitlab.example.com/pypi/simple"
    lines = [
        "#6 [2/3] RUN uv pip install six",
        f"#6 1.0 error: Failed to fetch: `{url}six/`",
        "#6 1.1 index https://gitlab.example.com/pypi/simple/six/ answered 404",
        f"#6 1.2 extras: {extra}",
        "#6 ERROR: executor failed running [/bin/sh -c uv pip install six]: exit code: 2",
    ]
    fake = FakeDocker(build_rc=1, build_lines=lines)
    builder = DockerBuilder(cli="/usr/bin/docker", env={}, runner=fake)
    progress = Lines()
    secrets = (
        Secret("pack-index-url", value=url),
        Secret("pack-extra-index-urls", value=extra),
    )
    with pytest.raises(BuildError) as info:
        builder.build(request(secrets=secrets), progress)
    shown = [text for _, text in progress.seen] + [str(info.value)]
    for text in shown:
        assert "tok-path-1" not in text and "tok-pass-2" not in text
        assert "gitlab.example.com/pypi/simple" not in text
    assert any("Failed to fetch: `https://pypi.fury.io/…`" in t for t in shown)
