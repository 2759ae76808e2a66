"""The pod-template field names pack checks without importing the client."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pack.errors import UsageError
from pack.launcher.podfields import POD_FIELDS
from pack.launcher.podtemplate_file import load_pod_template


@pytest.mark.parametrize("model", sorted(POD_FIELDS))
def test_every_known_name_is_one_the_installed_client_knows(model: str) -> None:
    from kubernetes import client

    assert POD_FIELDS[model] <= set(getattr(client, model).attribute_map.values())


def test_a_valid_template_loads_without_importing_kubernetes(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            kind: PodTemplate
            template:
              metadata: {labels: {team: ml}}
              spec:
                hostNetwork: true
                tolerations: [{key: gpu, operator: Exists}]
                containers: [{name: primary, workingDir: /tmp, env: [{name: A, value: "1"}]}]
            """
        )
    )
    code = (
        "import sys; from pathlib import Path; "
        "from pack.launcher.podtemplate_file import load_pod_template; "
        f"m = load_pod_template(Path({str(path)!r})); "
        "assert m['spec']['hostNetwork'] is True, m; "
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'kubernetes'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_a_key_no_client_knows_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text("kind: Pod\nspec:\n  nodeselector: {a: b}\n")
    with pytest.raises(UsageError, match=r"unknown field spec\.nodeselector"):
        load_pod_template(path)
