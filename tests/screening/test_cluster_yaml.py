"""cluster.yaml: valid for the installed Ray's cluster launcher, and private by construction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config() -> dict:
    import yaml

    return yaml.safe_load((REPO / "cluster.yaml").read_text())


def test_validates_against_the_schema_shipped_with_ray(config) -> None:
    import jsonschema
    import ray
    from ray.autoscaler._private.util import fillout_defaults, validate_config

    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    validate_config(fillout_defaults(config))


def test_cpu_head_and_four_gpu_workers(config) -> None:
    nodes = config["available_node_types"]
    head = nodes[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0
    gpu_workers = [n for name, n in nodes.items() if name != config["head_node_type"]]
    assert any(n["resources"].get("GPU") == 4 for n in gpu_workers)
    assert config["provider"]["type"] == "aws"


def test_installs_the_package_and_mounts_a_bundle(config) -> None:
    assert any("pip install" in c and "screener" in c for c in config["setup_commands"])
    assert any("bundle" in target for target in config["file_mounts"])


def test_dashboard_and_gcs_stay_private(config) -> None:
    head_start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start
    for command in (head_start, " ".join(config["worker_start_ray_commands"])):
        assert "RAY_AUTH_MODE=token" in command
    rules = config["provider"]["security_group"]["IpPermissions"]
    assert [(r["FromPort"], r["ToPort"]) for r in rules] == [(22, 22)], "only SSH is reachable from outside"
    assert all(r["CidrIp"] != "0.0.0.0/0" for rule in rules for r in rule.get("IpRanges", []))
