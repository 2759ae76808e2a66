"""Which pack runtime an image built now would contain, and the wheel that carries it.

The runtime that goes into an image is always the pack that is running, never a
package resolved by name from an index (a public index may hold anything under the
generic name `pack`). Two ways to be running:

- from a source checkout (an editable install): the wheel is built from the checkout
  with `pip wheel`, and the version names the content of the pack sources;
- from an installed distribution (`pip install .`, a wheel): the wheel is assembled
  from that distribution's own files (its package folder, METADATA, entry points),
  and the version names the content of those files.

The runtime version is part of every spec digest ("resolve before hashing"), and the
wheel is cached under it, so two different packs never share a tag or a cached wheel.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from pack import __version__

PACKAGE_DIR = Path(__file__).resolve().parent
# dist-info files that describe the code (copied into the wheel, hashed into the version);
# the others (RECORD, INSTALLER, direct_url.json, REQUESTED) describe one installation.
_DIST_FILES = ("METADATA", "entry_points.txt")


def source_checkout() -> Path | None:
    """The repository root when pack runs from a source tree (not an installed release)."""
    root = PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file() and (root / "Dockerfile.base").is_file():
        return root
    return None


def _runtime_files(package_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in package_dir.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in {".py", ".j2", ".typed"}
    )


def _package_files(package_dir: Path) -> list[Path]:
    """Every file of an installed package folder but compiled bytecode."""
    return sorted(
        p
        for p in package_dir.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def installed_dist_info() -> Path | None:
    """The `pack-<version>.dist-info` beside the running package (its installed metadata).

    Named by the running code's own __version__, so a stale dist-info of another version
    left in the same site-packages is never taken for it.
    """
    candidate = PACKAGE_DIR.parent / f"pack-{__version__}.dist-info"
    return candidate if (candidate / "METADATA").is_file() else None


def _hash_files(h: hashlib._Hash, files: list[tuple[str, Path]]) -> None:
    for rel, path in files:
        name = rel.encode()
        h.update(len(name).to_bytes(4, "big") + name)
        data = path.read_bytes()
        h.update(len(data).to_bytes(8, "big") + data)


def _installed_files(dist_info: Path) -> list[tuple[str, Path]]:
    """(path in the wheel, file) for the running package and its descriptive dist-info."""
    files = [
        (f"pack/{p.relative_to(PACKAGE_DIR).as_posix()}", p) for p in _package_files(PACKAGE_DIR)
    ]
    files += [
        (f"{dist_info.name}/{n}", dist_info / n) for n in _DIST_FILES if (dist_info / n).is_file()
    ]
    return files


@functools.lru_cache(maxsize=1)
def runtime_version() -> str:
    """`X.Y.Z+src.<hash>` from a source checkout, `X.Y.Z+dist.<hash>` from an installed one."""
    root = source_checkout()
    h = hashlib.sha256()
    if root is None:
        dist_info = installed_dist_info()
        if dist_info is None:
            return __version__  # no files to vouch for; building a runtime wheel will refuse
        _hash_files(h, _installed_files(dist_info))
        return f"{__version__}+dist.{h.hexdigest()[:12]}"
    _hash_files(
        h, [(p.relative_to(PACKAGE_DIR).as_posix(), p) for p in _runtime_files(PACKAGE_DIR)]
    )
    pyproject = (root / "pyproject.toml").read_bytes()
    h.update(len(pyproject).to_bytes(8, "big") + pyproject)
    return f"{__version__}+src.{h.hexdigest()[:12]}"


def wheel_cache_dir(cache_dir: Path) -> Path:
    return cache_dir / "runtime-wheels" / runtime_version()


def build_runtime_wheel(dest_dir: Path, *, cache_dir: Path | None = None) -> Path:
    """A wheel of the running pack in `dest_dir`, made once per runtime_version.

    From a source checkout: `python -m pip wheel --no-deps` on the checkout (without
    build isolation when hatchling is installed, so no index is needed). From an
    installed distribution: assembled from its own files (`wheel_from_installed`). Never
    downloaded. Cached under `cache_dir/runtime-wheels/<runtime_version>/` (temp dir +
    rename, so a crashed build never leaves a half wheel in the cache).
    """
    import os
    import shutil
    import tempfile

    dest_dir.mkdir(parents=True, exist_ok=True)
    cached = wheel_cache_dir(cache_dir) if cache_dir is not None else None
    if cached is not None:
        found = sorted(cached.glob("pack-*.whl"))
        if found:
            target = dest_dir / found[0].name
            shutil.copy2(found[0], target)
            return target
        cached.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pack-wheel-", dir=cached.parent if cached else None))
    try:
        root = source_checkout()
        wheel = _wheel_from_checkout(root, work) if root is not None else wheel_from_installed(work)
        if cached is not None:
            staged = work / "staged"
            staged.mkdir()
            shutil.move(str(wheel), staged / wheel.name)
            try:
                os.replace(staged, cached)
            except OSError:
                pass  # another process cached the same version first; theirs is as good
            wheel = next(iter(sorted(cached.glob("pack-*.whl"))))
        target = dest_dir / wheel.name
        shutil.copy2(wheel, target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _wheel_from_checkout(root: Path, work: Path) -> Path:
    import subprocess
    import sys

    from pack.errors import BuildError

    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(work)]
    try:
        import hatchling  # noqa: F401

        cmd.append("--no-build-isolation")
    except ImportError:
        pass
    proc = subprocess.run([*cmd, str(root)], capture_output=True, text=True)
    wheels = sorted(work.glob("pack-*.whl"))
    if proc.returncode != 0 or not wheels:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-10:])
        raise BuildError(f"building the pack runtime wheel from {root} failed:\n{tail}")
    return wheels[0]


_WHEEL_FILE = (
    "Wheel-Version: 1.0\nGenerator: pack (runtime)\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
)


def wheel_from_installed(work: Path) -> Path:
    """A wheel of the installed distribution the running pack came from, from its own files.

    Holds the package folder (no bytecode) and the dist-info's METADATA and entry points,
    with a fresh WHEEL and RECORD; members sorted with fixed timestamps, so the same
    files always give the same wheel bytes.
    """
    import base64
    import zipfile

    from pack.errors import BuildError

    dist_info = installed_dist_info()
    if dist_info is None:
        raise BuildError(
            f"the running pack ({PACKAGE_DIR}) has no pack-*.dist-info beside it, so there is "
            "no distribution to put into the image; install pack with pip, or run it from a "
            "checkout (pip install -e .)"
        )
    version = dist_info.name[len("pack-") : -len(".dist-info")]
    members = [
        (rel, path.read_bytes(), path.stat().st_mode) for rel, path in _installed_files(dist_info)
    ]
    members.append((f"{dist_info.name}/WHEEL", _WHEEL_FILE.encode(), 0o644))
    record = "".join(
        f"{rel},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for rel, data, _ in members
    )
    members.append(
        (f"{dist_info.name}/RECORD", (record + f"{dist_info.name}/RECORD,,\n").encode(), 0o644)
    )
    wheel = work / f"pack-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel, data, mode in sorted(members, key=lambda m: m[0]):
            info = zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = ((0o755 if mode & 0o111 else 0o644) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return wheel
