"""The run record: changes, wire form, and what a planted record may not carry."""

from __future__ import annotations

import json

import pytest

from pack.errors import StoreError
from pack.runs import keys
from pack.runs.record import RunRecord, inputs_for_record
from pack.runs.runstore import new_record


def base() -> RunRecord:
    return new_record("rabc123", task="wf.main", backend="kubernetes", now=100.0, inputs={"x": 1})


def test_attempts_and_finish() -> None:
    record = base().attempt_started(1, name="main-rabc123-1", now=101.0)
    assert record.status == "running" and record.latest and record.latest.started_at == 101.0
    record = record.attempt_ended(
        1, succeeded=False, now=102.0, exit_code=1, error={"code": "E", "recoverable": True}
    )
    assert record.status == "running" and record.attempts[0].status == "failed"
    record = record.attempt_started(2, name="main-rabc123-2", now=103.0)
    record = record.attempt_ended(2, succeeded=True, now=104.0)
    record = record.finished("succeeded", now=104.0, timings={"total": 4.0})
    assert [a.status for a in record.attempts] == ["failed", "succeeded"]
    assert record.done and record.updated_at == 104.0 and record.created_at == 100.0
    again = RunRecord.from_json(record.to_json(), "test")
    assert again == record
    with pytest.raises(ValueError):
        record.finished("running", now=1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "../etc"),
        ("id", "R-UPPER"),
        ("backend", "ssh"),
        ("status", "done"),
        ("parent", "a/b"),
        ("kind", "dag"),
        ("task", "x; rm -rf /"),
        ("max_attempts", 0),
        ("attempts", [{"attempt": 1, "name": "Bad_Name/../x"}]),
        ("attempts", [{"attempt": 0}]),
    ],
)
def test_a_record_with_a_bad_field_is_refused_naming_it(field: str, value: object) -> None:
    raw = base().to_dict()
    raw[field] = value
    with pytest.raises(StoreError) as info:
        RunRecord.from_dict(raw, "file:///s/runs/x/record.json")
    assert field in str(info.value) and "file:///s/runs/x/record.json" in str(info.value)


def test_connection_settings_in_a_record_are_not_kept() -> None:
    raw = base().to_dict()
    raw.update(kubeconfig="/tmp/evil", docker_host="tcp://evil:2375", store_url="s3://evil")
    record = RunRecord.from_dict(raw, "planted")
    for name in ("kubeconfig", "docker_host", "store_url", "kube_context"):
        assert not hasattr(record, name)
    assert "evil" not in record.to_json().decode()


def test_big_inputs_are_replaced_by_a_note() -> None:
    out = inputs_for_record({"small": [1, 2], "big": list(range(20_000))})
    assert out["small"] == [1, 2]
    assert out["big"].startswith("<") and "pack inputs" in out["big"]
    assert len(json.dumps(out)) < 20_000


def test_index_keys_sort_newest_first() -> None:
    times = [1_000.0, 1_000.001, 86_400.0 * 3, 1_700_000_000.0, 1_800_000_000.5]
    ordered = sorted(keys.index_key(t, f"r{i}") for i, t in enumerate(times))
    assert [keys.run_id_of(k) for k in ordered] == ["r4", "r3", "r2", "r1", "r0"]
    assert keys.index_time(ordered[0]) == pytest.approx(1_800_000_000.5)
    assert keys.run_id_of("index/runs/1/2-r-with-dash.json") == "r-with-dash"
    assert keys.run_id_of("index/runs/1/stray.txt") is None


def test_keys_agree_with_the_execution_layout() -> None:
    from pack.launcher.execution import Execution

    execution = Execution("rabc", "p", "d", "file:///s", attempt=3)
    assert execution.inputs_url == "file:///s/" + keys.inputs_key("rabc")
    assert execution.outputs_url == "file:///s/" + keys.attempt_key("rabc", 3, "outputs.pb")
    assert execution.errors_url == "file:///s/" + keys.attempt_key("rabc", 3, "errors.pb")
