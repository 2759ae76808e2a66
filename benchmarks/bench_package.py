"""pack package vs flytekit's fast_package on a generated ~3,000-file / ~80 MB tree.

Prints, in one run: pack cold (fresh stat cache, fresh store) with zstd (its default)
and with gzip (what flytekit writes, so the compressors are compared like for like),
pack on the unchanged tree (same cache: no hashing, no tar, no upload), the same two
through the `pack` CLI as a user runs it, and flytekit's fast_package (copy all) on the
same tree.
flytekit lives only in a venv this script creates for itself; pack never depends on it.

    python benchmarks/bench_package.py [--keep DIR] [--flytekit-venv DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLYTEKIT_VENV = Path("/var/cache/pack-bench/flytekit-venv")

FLYTEKIT_RUNNER = r"""
import json, sys, tempfile, time
t0 = time.perf_counter()
from flytekit.constants import CopyFileDetection
from flytekit.tools.fast_registration import FastPackageOptions, fast_package
t1 = time.perf_counter()
out = tempfile.mkdtemp()
path = fast_package(sys.argv[1], out, options=FastPackageOptions(ignores=[], copy_style=CopyFileDetection.ALL))
t2 = time.perf_counter()
import os, tarfile
with tarfile.open(path) as tar:
    names = tar.getnames()
print(json.dumps({"import": t1 - t0, "package": t2 - t1, "files": len(names), "bytes": os.path.getsize(path)}))
"""


def generate(root: Path, seed: int = 7) -> dict[str, int]:
    """~2,000 nested modules, ~900 JSON/CSV files, 5 random blobs, plus things to skip."""
    rng = random.Random(seed)
    words = [f"name{i}" for i in range(400)]
    counts = {"files": 0, "bytes": 0}

    def put(rel: str, data: bytes) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        counts["files"] += 1
        counts["bytes"] += len(data)

    put("pyproject.toml", b'[project]\nname = "benchproj"\nversion = "0"\n')
    put(".gitignore", b"generated/\n*.log\n")
    put("workflows/wf.py", b"from app.pkg0.sub0 import mod0\n")
    for p in range(20):
        put(f"app/pkg{p}/__init__.py", b"")
        for s in range(10):
            put(f"app/pkg{p}/sub{s}/__init__.py", b"")
            for m in range(10):
                body = "\n".join(
                    f"def {rng.choice(words)}_{i}(x):\n    return x * {rng.randint(0, 999)} + {i}\n"
                    for i in range(rng.randint(40, 120))
                )
                imports = f"from app.pkg{rng.randrange(20)}.sub{rng.randrange(10)} import mod{rng.randrange(10)}\n"
                put(f"app/pkg{p}/sub{s}/mod{m}.py", (imports + body).encode())
    for i in range(450):
        rows = [
            {"id": j, "name": rng.choice(words), "value": rng.random()}
            for j in range(rng.randint(500, 1500))
        ]
        put(f"data/json/part{i:04d}.json", json.dumps(rows).encode())
    for i in range(450):
        lines = "\n".join(
            f"{j},{rng.choice(words)},{rng.random():.6f}" for j in range(rng.randint(700, 2100))
        )
        put(f"data/csv/part{i:04d}.csv", ("id,name,value\n" + lines).encode())
    for i in range(7):
        put(f"assets/blob{i}.bin", rng.randbytes(4 * 1024 * 1024 + i * 100_000))
    # Things that must be skipped.
    skipped = root / ".venv"
    (skipped / "lib/python3.11/site-packages/big").mkdir(parents=True)
    (skipped / "pyvenv.cfg").write_text("home = /usr/bin\n")
    for i in range(300):
        (skipped / f"lib/python3.11/site-packages/big/m{i}.py").write_bytes(rng.randbytes(4096))
    for p in range(20):
        cache = root / f"app/pkg{p}/__pycache__"
        cache.mkdir()
        (cache / "__init__.cpython-311.pyc").write_bytes(rng.randbytes(2048))
    gen = root / "generated"
    gen.mkdir()
    for i in range(50):
        (gen / f"out{i}.bin").write_bytes(rng.randbytes(100_000))
    (root / "run.log").write_text("log\n")
    # flytekit's GitIgnore asks git, so make it a repository (nothing committed is needed).
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return counts


def ensure_flytekit(venv: Path) -> Path:
    python = venv / "bin" / "python"
    probe = (
        subprocess.run([str(python), "-c", "import flytekit"], capture_output=True)
        if python.exists()
        else None
    )
    if probe is None or probe.returncode != 0:
        print(f"creating {venv} with flytekit (once)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "flytekit"], check=True)
    return python


def run_flytekit(python: Path, tree: Path) -> dict[str, float]:
    env = {**os.environ, "FLYTE_SDK_RICH_TRACEBACKS": "0"}
    proc = subprocess.run(
        [str(python), "-c", FLYTEKIT_RUNNER, str(tree)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"flytekit failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def time_cli(args: list[str], env: dict[str, str]) -> tuple[float, dict[str, object]]:
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"pack failed: {proc.stderr}")
    return elapsed, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="generate the tree here and keep it")
    parser.add_argument("--flytekit-venv", type=Path, default=FLYTEKIT_VENV)
    parser.add_argument("--skip-flytekit", action="store_true")
    args = parser.parse_args()

    from pack.packager.publish import BundleRef, package_and_publish

    work = Path(tempfile.mkdtemp(prefix="pack-bench-"))
    try:
        tree = args.keep or work / "tree"
        if not (tree / "pyproject.toml").exists():
            tree.mkdir(parents=True, exist_ok=True)
            t0 = time.perf_counter()
            counts = generate(tree)
            print(
                f"generated {counts['files']} files / {counts['bytes'] / 1e6:.1f} MB to pack "
                f"(+ .venv, __pycache__, git-ignored output) in {time.perf_counter() - t0:.1f} s"
            )
        # Files just written are inside the stat cache's racy window; age them as a real tree is.
        old = time.time() - 3600
        for dirpath, _dirs, files in os.walk(tree):
            for name in files:
                os.utime(os.path.join(dirpath, name), (old, old))

        def pack_once(
            cache: Path, store: Path, compression: str = "zstd"
        ) -> tuple[float, BundleRef | None]:
            t0 = time.perf_counter()
            ref = package_and_publish(
                tree,
                "all",
                None,
                store.as_uri(),
                cache_dir=cache,
                compression=compression,
                on_warning=lambda m: None,
            )
            return time.perf_counter() - t0, ref

        cold, ref = pack_once(work / "cache1", work / "store1")
        warm, ref2 = pack_once(work / "cache1", work / "store1")
        cold_gz, ref_gz = pack_once(work / "cache3", work / "store3", "gzip")
        assert ref is not None and ref2 is not None and ref_gz is not None
        assert ref.uploaded and not ref2.uploaded and ref_gz.uploaded
        assert ref_gz.digest == ref.digest  # same tree, same name: only the archive differs
        bundle = Path(ref.url.removeprefix("file://"))
        bundle_gz = Path(ref_gz.url.removeprefix("file://"))

        env = {
            **os.environ,
            "PACK_CACHE_DIR": str(work / "cache2"),
            "PACK_STORE": (work / "store2").as_uri(),
        }
        pack_cli = (
            [sys.executable, "-m", "pack.cli.__init__"]
            if not shutil.which("pack")
            else [shutil.which("pack") or "pack"]
        )
        cli_cold, j1 = time_cli([*pack_cli, "package", str(tree), "-o", "json"], env)
        cli_warm, j2 = time_cli([*pack_cli, "package", str(tree), "-o", "json"], env)
        assert (
            j1["uploaded"] is True and j2["uploaded"] is False and j1["digest"] == str(ref.digest)
        )

        print(
            f"pack bundle: {ref.files} files, {ref.bytes / 1e6:.1f} MB -> "
            f"{bundle.stat().st_size / 1e6:.1f} MB zstd, {bundle_gz.stat().st_size / 1e6:.1f} MB gzip"
        )
        print(f"pack cold      (in-process, fresh cache + store): {cold:7.3f} s")
        print(f"pack cold gzip (in-process, fresh cache + store): {cold_gz:7.3f} s")
        print(f"pack unchanged (in-process, same cache, no upload): {warm:7.3f} s")
        print(f"pack cold      (`pack package` CLI, whole process): {cli_cold:7.3f} s")
        print(f"pack unchanged (`pack package` CLI, whole process): {cli_warm:7.3f} s")
        if not args.skip_flytekit:
            python = ensure_flytekit(args.flytekit_venv)
            fk = run_flytekit(python, tree)
            print(
                f"flytekit fast_package (copy all): {fk['package']:7.3f} s  "
                f"({int(fk['files'])} files, {fk['bytes'] / 1e6:.1f} MB gz; import {fk['import']:.2f} s not counted)"
            )
            print(
                f"ratio flytekit / pack cold (in-process): {fk['package'] / cold:5.1f}x   (target >= 5x)"
            )
            print(
                f"ratio flytekit / pack cold gzip (in-process, both gzip): {fk['package'] / cold_gz:5.1f}x"
            )
            print(f"ratio flytekit / pack cold (CLI):        {fk['package'] / cli_cold:5.1f}x")
        print(
            f"unchanged target < 0.3 s: {'met' if warm < 0.3 else 'MISSED'} in-process, "
            f"{'met' if cli_warm < 0.3 else 'missed'} for the whole CLI process"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
