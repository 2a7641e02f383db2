"""The README stays true: its service example parses and covers every attribute; every key is documented."""

from __future__ import annotations

from pathlib import Path

import yaml

from components.inventory.services import REFUSED_SERVICE_KEYS, SERVICE_KEYS, parse_catalog
from components.inventory.stage import PROJECT_KEYS, STAGE_KEYS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def service_example() -> dict:
    block = README.split("An example using every attribute", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    return yaml.safe_load(block)


def test_service_example_is_a_valid_catalog():
    (service,) = parse_catalog([("README.md", service_example())]).services
    assert service.name == "web"


def test_service_example_uses_every_attribute():
    (definition,) = service_example()["services"].values()
    assert set(definition) == SERVICE_KEYS - REFUSED_SERVICE_KEYS


def test_every_config_key_is_in_the_reference():
    for key in (*STAGE_KEYS, *PROJECT_KEYS):
        assert f"| `hive:{key}` |" in README, key
