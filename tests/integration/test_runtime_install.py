"""The runtime in an image is the pack that is running, also from a non-editable install.

A fresh venv gets pack the way `pip install .` leaves it (a wheel of this checkout, no
editable link), with no index reachable for pack: the image's pack must be that
install's own files, byte for byte (issue 11.4).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from pack.runtime import build_runtime_wheel, source_checkout

pytestmark = pytest.mark.integration

HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(scope="module")
def installed_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with pack installed non-editably from this checkout; its bin/ folder."""
    checkout = source_checkout()
    if checkout is None:
        pytest.skip("needs a source checkout to install pack from")
    work = tmp_path_factory.mktemp("installed")
    # The wheel `pip install .` would build and install (hatchling, no index for pack).
    wheel = build_runtime_wheel(work / "wheels")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
    )
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # pack's dependencies come from this test's environment, after the venv's own
    # site-packages (a .pth line adds a path; .pth files inside it are not read, so
    # this environment's editable pack stays invisible).
    deps = [p for p in sys.path if p.endswith("site-packages")]
    (site / "zz_test_deps.pth").write_text("".join(f"{p}\n" for p in deps))
    return venv / "bin"


def test_installed_pack_builds_its_own_files_into_the_image(
    installed_pack: Path, registry, base_image: str, docker_engine, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    python = installed_pack / "python"
    mark = uuid.uuid4().hex

    def output(code: str) -> str:
        proc = subprocess.run(
            [str(python), "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path
        )
        return proc.stdout.strip()

    # Make this install unlike any release: the image must carry exactly these files.
    package_dir = Path(output("import pack, pathlib; print(pathlib.Path(pack.__file__).parent)"))
    assert str(package_dir).startswith(str(installed_pack.parent))  # not the checkout
    (package_dir / "_test_marker.py").write_text(f"MARK = {mark!r}\n")
    version = output("from pack.runtime import runtime_version as v; print(v())")
    assert "+dist." in version

    project = tmp_path / "project"
    project.mkdir()
    (project / "spec.py").write_text(
        "from pack import ImageSpec\n\n"
        f"app = ImageSpec(name='test/installed-{mark[:10]}', registry={registry.host!r}, "
        f"base_image={base_image!r})\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
        "PATH": f"{installed_pack}:{os.environ.get('PATH', '')}",
        "PACK_DOCKER_HOST": docker_engine.host,
        "PACK_DOCKER_CLI": docker_engine.cli,
        "PACK_BUILD_CA_BUNDLE": str(HOST_CA),
        "PACK_CACHE_DIR": str(tmp_path / "cache"),
        "DOCKER_CONFIG": str(tmp_path / "no-docker-config"),
        # No index reachable for pack: a `pip download pack==…` would fail here.
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "UV_INDEX_URL": "http://127.0.0.1:9/simple",
    }
    proc = subprocess.run(
        [str(installed_pack / "pack"), "build", "-o", "json", "spec.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    [out] = json.loads(proc.stdout)
    assert out["status"] == "built"
    inside = docker_engine.run(
        "run",
        "--rm",
        out["digest"],
        "python",
        "-c",
        "import pack, pack._test_marker as m; from pack.runtime import runtime_version as v;"
        " print(v(), m.MARK, pack.__file__)",
    )
    image_version, image_mark, image_file = inside.stdout.split()
    assert (image_version, image_mark) == (version, mark)
    assert image_file.startswith("/opt/pack/venv/")
    # The console scripts a pod runs came with it.
    scripts = docker_engine.run(
        "run",
        "--rm",
        out["digest"],
        "sh",
        "-c",
        "command -v pack-fast-execute; command -v pack-execute",
    )
    assert scripts.stdout.split() == [
        "/opt/pack/venv/bin/pack-fast-execute",
        "/opt/pack/venv/bin/pack-execute",
    ]
