"""The shipped Prometheus alerting rules (deploy/prometheus/harbor-fleet-alerts.yml) name only what the
service exposes: every `harbor_*` series in an expression is one a metric of metrics.py produces, every
route label value is a documented route template, and every rule carries what on-call needs to act."""

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY

import harbor_fleet.metrics  # noqa: F401  (registers them)

RULES = Path(__file__).parents[2] / "deploy" / "prometheus" / "harbor-fleet-alerts.yml"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def exposed_series() -> set[str]:
    families = [family for family in REGISTRY.collect() if family.name.startswith("harbor_")]
    return {family.name + suffix for family in families for suffix in SUFFIXES[family.type]}


def test_every_series_an_alert_reads_is_exposed() -> None:
    named = {name for rule in rules() for name in re.findall(r"\bharbor_[a-z_]+", rule["expr"])}
    assert named and named <= exposed_series(), named - exposed_series()


def test_route_labels_are_route_templates() -> None:
    document = json.loads(resources.files("harbor_fleet.web").joinpath("openapi.json").read_text())
    routes = {value for rule in rules() for value in re.findall(r'route="([^"]+)"', rule["expr"])}
    assert routes and routes <= set(document["paths"])


def test_every_rule_says_how_bad_and_what_to_do() -> None:
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names)) and all(name.startswith("Harbor") for name in names)
    for rule in rules():
        assert rule["labels"]["severity"] in {"page", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
