"""A real workflow's tree through the CLI (`pack status`, `pack logs`) and the console,
on the local backend and on the cluster."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import run_pack
from tests.integration.console import start_console
from tests.integration.test_workflows_kubernetes import project as wf_project  # noqa: F401

pytestmark = pytest.mark.integration

LOCAL_WF = """
    from pack import map_task, task, workflow


    @task
    def square(x: int) -> int:
        print(f"squaring {x}", flush=True)
        return x * x


    @task
    def total(xs: list[int]) -> int:
        return sum(xs)


    @task
    def outer(x: int) -> int:
        return square(x=x) + 1


    @workflow
    def main(n: int = 3) -> int:
        return total(xs=map_task(square)(x=list(range(n))))
"""


def check_tree_in_cli_and_console(
    pack: Any, run_id: str, env: dict[str, str], store: str, page: Any, tasks: tuple[str, str]
) -> list[dict[str, Any]]:
    mapped, summed = tasks
    status = pack("status", run_id)
    assert status.returncode == 0, status.stderr
    assert "children: 4" in status.stdout
    for i in range(3):
        assert f"[{i}] {mapped} " in status.stdout
    assert f"└─ {summed} " in status.stdout
    doc = json.loads(pack("status", "-o", "json", run_id).stdout)
    children = doc["children"]
    assert [(c["task"], c["index"], c["status"]) for c in children] == [
        (mapped, 0, "succeeded"),
        (mapped, 1, "succeeded"),
        (mapped, 2, "succeeded"),
        (summed, None, "succeeded"),
    ]
    proc, url = start_console(env, "--store", store)
    try:
        page.goto(f"{url}runs/{run_id}")
        items = page.locator("#children li")
        assert items.count() == 4
        assert page.locator("#children .status-succeeded").count() == 4
        second = children[1]["id"]
        page.locator(f'#children li[data-child="{second}"] > a').click()
        page.wait_for_url(f"**/runs/{second}")
        main_text = page.inner_text("main")
        assert "child of" in main_text and run_id in main_text
        assert children[1]["attempts"][-1]["name"] in main_text  # its pod or process
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return children  # type: ignore[no-any-return]


def test_a_local_workflows_tree(tmp_path: Path, page: Any) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "wf.py").write_text(textwrap.dedent(LOCAL_WF))
    store = (tmp_path / "store").as_uri()
    env = {**os.environ, "PACK_STORE": store}

    def pack(*args: str) -> subprocess.CompletedProcess[str]:
        return run_pack(root, env, *args)

    r = pack("run", "-o", "json", "wf.py", "main", "--n", "3")
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)["execution_id"]
    children = check_tree_in_cli_and_console(
        pack, run_id, env, store, page, ("wf.square", "wf.total")
    )
    assert "squaring 1" in pack("logs", children[1]["id"]).stdout
    # A task that calls a task: its child shows under it too.
    outer = pack("run", "-o", "json", "wf.py", "outer", "--x", "5")
    assert outer.returncode == 0, outer.stderr
    outer_id = json.loads(outer.stdout)["execution_id"]
    text = pack("status", outer_id).stdout
    assert "children: 1" in text and "└─ wf.square" in text


def test_a_kubernetes_workflows_tree(wf_project: Any, page: Any) -> None:  # noqa: F811
    doc = wf_project.run_json("kubernetes", "main", "--n", "3")
    children = check_tree_in_cli_and_console(
        wf_project.pack,
        doc["execution_id"],
        wf_project.env,
        wf_project.store,
        page,
        ("wf.square", "wf.total"),
    )
    assert all(c["backend"] == "kubernetes" for c in children)
    logs = wf_project.pack("logs", children[0]["id"])  # the pod is gone: from the store
    assert logs.returncode == 0, logs.stderr
