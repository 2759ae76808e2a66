"""`pack ui` in a real browser (Debian's chromium, headless, driven by Playwright):
the list shows runs made in the test and new ones live; a run page shows its log,
outputs and deck; a workflow's page shows its children; remote binding needs a token."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_remote_kubernetes import project as kube_project  # noqa: F401

from .conftest import pack_cmd, run_pack
from .console import free_port, shoot, start_console

pytestmark = pytest.mark.integration

TASKS = """
    import time

    from pack import Deck, task
    from pack.deck import markdown, table


    @task(deck=True)
    def report(n: int) -> int:
        print(f"report says {n}", flush=True)
        Deck("Summary", markdown(f"# Report for {n}"))
        Deck("Rows", table([{"i": i, "square": i * i} for i in range(n)]))
        return n * n


    @task
    def slow(n: int) -> int:
        for i in range(n):
            print(f"tick {i}", flush=True)
            time.sleep(0.6)
        return n
"""


@dataclass
class Console:
    url: str
    store: str
    env: dict[str, str]
    root: Path

    def run(self, task: str, *args: str) -> dict[str, Any]:
        proc = run_pack(self.root, self.env, "run", "-o", "json", "tasks.py", task, *args)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "tasks.py").write_text(textwrap.dedent(TASKS))
    store = (tmp_path / "store").as_uri()
    env = {**os.environ, "PACK_STORE": store}
    proc, url = start_console(env)
    try:
        yield Console(url, store, env, root)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_runs_list_and_run_page_in_a_browser(
    console: Console, page: Any, artifacts_dir: Path
) -> None:
    done = console.run("report", "--n", "4")
    run_id = done["execution_id"]

    page.goto(console.url)
    row = page.locator(f'tr[data-run="{run_id}"]')
    assert row.locator(".status").inner_text() == "succeeded"
    assert "tasks.report" in row.inner_text()
    shoot(page, artifacts_dir / "console-runs.png")

    row.locator("a").click()
    page.wait_for_url(f"**/runs/{run_id}")
    assert "report says 4" in page.locator("#log").inner_text()
    assert page.locator("#outputs").inner_text().split() == ["o0", "16"]
    assert page.locator("#inputs").inner_text().split() == ["n", "4"]
    assert page.locator(".timeline .row").count() >= 3
    deck = page.frame_locator("iframe#deck")
    assert deck.locator("h1").inner_text() == "Report for 4"
    assert deck.locator("td").nth(5).inner_text() == "4"  # the Rows tab's i=2 square
    shoot(page, artifacts_dir / "console-run.png")


def test_new_runs_and_a_running_log_appear_without_a_reload(console: Console, page: Any) -> None:
    first = console.run("report", "--n", "1")["execution_id"]
    page.goto(console.url)
    page.wait_for_selector(f'tr[data-run="{first}"]')
    page.evaluate("window.__notReloaded = true")

    runner = subprocess.Popen(
        pack_cmd("run", "tasks.py", "slow", "--n", "6"),
        cwd=console.root,
        env=console.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from playwright.sync_api import expect

        # The list picks the new run up live; open it while it runs. (Waits use
        # `expect`: the console's CSP forbids the eval behind wait_for_function.)
        new_row = page.locator("#runs tr").first
        expect(new_row).not_to_have_attribute("data-run", first, timeout=30_000)
        assert page.evaluate("window.__notReloaded") is True
        slow_id = new_row.get_attribute("data-run")
        page.goto(f"{console.url}runs/{slow_id}")
        page.evaluate("window.__notReloaded = true")
        assert page.locator("#run-status").inner_text() in ("pending", "running")
        expect(page.locator("#run-status")).to_have_text("succeeded", timeout=60_000)
        expect(page.locator("#log")).to_contain_text("tick 5", timeout=10_000)
        ticks = [t for t in page.locator("#log").inner_text().splitlines() if t.startswith("tick")]
        assert ticks == [f"tick {i}" for i in range(6)]  # each line once
        assert page.evaluate("window.__notReloaded") is True
        assert runner.wait(timeout=60) == 0
    finally:
        runner.kill()


def test_a_workflows_children_are_shown_and_linked(
    console: Console, page: Any, artifacts_dir: Path
) -> None:
    """A tree written through the records API, as a workflow driver writes it."""
    from pack.runs.runstore import RunStore, new_record

    runs = RunStore.open(console.store)
    now = time.time()

    def put_done(record: Any, ok: bool = True) -> None:
        record = record.attempt_started(1, name=f"x-{record.id}-1", now=now)
        record = record.attempt_ended(1, succeeded=ok, now=now + 1)
        runs.put(record.finished("succeeded" if ok else "failed", now=now + 1))

    root = new_record("rbrowserwf", task="wf.pipeline", backend="local", now=now, kind="workflow")
    put_done(root)
    fan = new_record(
        "rbrowsermap",
        task="wf.square",
        backend="local",
        now=now + 1,
        parent="rbrowserwf",
    )
    put_done(fan, ok=False)
    for i in range(3):
        put_done(
            new_record(
                f"rbrowsersq{i}",
                task="wf.square",
                backend="local",
                now=now + 2 + i,
                parent="rbrowsermap",
                index=i,
            ),
            ok=i != 2,
        )

    page.goto(f"{console.url}runs/rbrowserwf")
    children = page.locator("#children li")
    assert children.count() == 4  # the map and its three elements, nested
    assert page.locator('#children li[data-child="rbrowsersq2"] .status').inner_text() == "failed"
    assert "[1]" in page.locator('#children li[data-child="rbrowsersq1"]').inner_text()
    shoot(page, artifacts_dir / "console-workflow.png")
    page.locator('#children li[data-child="rbrowsersq1"] > a').click()
    page.wait_for_url("**/runs/rbrowsersq1")
    assert "child of" in page.inner_text("main") and "rbrowsermap" in page.inner_text("main")


def test_binding_beyond_loopback_needs_the_flag_and_a_token(tmp_path: Path, page: Any) -> None:
    env = {**os.environ, "PACK_STORE": (tmp_path / "store").as_uri()}
    refused = subprocess.run(
        pack_cmd("ui", "--host", "0.0.0.0", "--port", str(free_port())),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "--allow-remote" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1

    token = "a-token-for-the-browser-test"
    proc, url = start_console(
        {**env, "PACK_UI_TOKEN": token}, "--host", "0.0.0.0", "--allow-remote"
    )
    try:
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(url, timeout=5)  # noqa: S310 - loopback
        assert denied.value.code == 401
        page.goto(f"{url}?token={token}")
        assert page.url == url  # the token left the address bar for a cookie
        assert page.locator("h1").inner_text() == "Runs"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert token not in (proc.stderr.read() if proc.stderr else "")  # a given token is not shown


def test_a_kubernetes_run_in_the_console(kube_project: Any, page: Any) -> None:  # noqa: F811
    """A pod's run on the real cluster, read from S3 by the console after the pod is gone."""
    done = kube_project.run_json("kubernetes", "chatty", "--x", "3")
    run_id = done["execution_id"]
    proc, url = start_console(kube_project.env, "--store", kube_project.store)
    try:
        page.goto(url)
        row = page.locator(f'tr[data-run="{run_id}"]')
        assert "kubernetes" in row.inner_text() and "succeeded" in row.inner_text()
        row.locator("a").click()
        page.wait_for_url(f"**/runs/{run_id}")
        log = [ln for ln in page.locator("#log").inner_text().splitlines() if ln.startswith("line")]
        assert log == ["line 0 of 3", "line 1 of 3", "line 2 of 3"]
        assert page.locator("#outputs").inner_text().split() == ["o0", "3"]
        assert f"chatty-{run_id}-1" in page.inner_text("main")  # the pod's name
        assert "@sha256:" in page.inner_text("main")  # the image, pinned
    finally:
        proc.terminate()
        proc.wait(timeout=10)
