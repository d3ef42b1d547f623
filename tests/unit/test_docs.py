"""The README documents what the code has: every setting in its configuration table, every metric in its
metrics table (an operator reads the README, not settings.py)."""

import re
from pathlib import Path

from prometheus_client import REGISTRY

from harbor_fleet.settings import Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def test_every_setting_is_in_the_configuration_table() -> None:
    table = section("Configuration")
    named = set(re.findall(r"`(HARBOR_[A-Z_]+)`", table))
    assert {f"HARBOR_{name.upper()}" for name in Settings.model_fields} <= named


def test_every_harbor_metric_is_in_the_metrics_table() -> None:
    import harbor_fleet.metrics  # noqa: F401  (registers them)

    table = section("Metrics")
    names = {family.name for family in REGISTRY.collect() if family.name.startswith("harbor_")}
    documented = {name.removesuffix("_total") for name in re.findall(r"`(harbor_[a-z_]+)", table)}
    assert names and names <= documented
