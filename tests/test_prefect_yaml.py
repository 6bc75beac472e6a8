"""prefect.yaml describes the same deployment as `pilotkpi serve` (fast: no Prefect server)."""
from __future__ import annotations

import ast
from pathlib import Path

import yaml

from flows.serve import DEFAULT_CRON, DEFAULT_NAME, DEFAULT_TIMEZONE

ROOT = Path(__file__).resolve().parent.parent


def _deployment() -> dict:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    (deployment,) = [d for d in config["deployments"] if d["name"] == DEFAULT_NAME]
    return deployment


def test_entrypoint_names_a_flow_function_that_exists():
    file_name, function = _deployment()["entrypoint"].split(":")
    source = ROOT / file_name
    assert source.is_file()
    # Parsed, not imported: the entrypoint must name a top-level function decorated as a flow.
    tree = ast.parse(source.read_text(encoding="utf-8"))
    (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function]
    decorators = [d.func if isinstance(d, ast.Call) else d for d in node.decorator_list]
    assert any(isinstance(d, ast.Name) and d.id == "flow" for d in decorators)


def test_schedule_equals_the_serve_defaults():
    (schedule,) = _deployment()["schedules"]
    assert schedule["cron"] == DEFAULT_CRON
    assert schedule["timezone"] == DEFAULT_TIMEZONE


def test_parameters_are_the_flows_required_arguments():
    from flows.nightly import nightly

    required = [name for name, p in nightly.parameters.properties.items() if name in nightly.parameters.required]
    assert sorted(_deployment()["parameters"]) == sorted(required)
    assert all(Path(value).is_absolute() for value in _deployment()["parameters"].values())


def test_pull_step_sets_the_working_directory():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    assert any("prefect.deployments.steps.set_working_directory" in step for step in config["pull"])
