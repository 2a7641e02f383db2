"""Stack files as the engine reads them (yaml.v3 + Pulumi's config strings); services files with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.inventory.errors import ConfigError
from components.inventory.yamlfiles import engine_string, load_pulumi_yaml, load_services_yaml


def stack_values(tmp_path: Path, body: str) -> dict[str, str]:
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text("config:\n" + body)
    return {k: engine_string(v) for k, v in load_pulumi_yaml(path, path.name)["config"].items()}


@pytest.mark.parametrize(
    ("written", "engine"),
    [
        ("yes", "yes"),  # YAML 1.2: a string (PyYAML's 1.1 says True)
        ("on", "on"),
        ("True", "true"),
        ("010", "8"),  # yaml.v3 still reads a leading-0 integer as octal
        ("0x10", "16"),
        ("0o17", "15"),
        ("1_000", "1000"),
        ("1e3", "1000"),
        ("1.5", "1.5"),
        ("'8080'", "8080"),
        ("", "null"),  # a key without a value: a nil object, JSON null
        ("[203.0.113.0/24, yes]", '["203.0.113.0/24","yes"]'),
        ("{secure: AAAB}", '{"secure":"AAAB"}'),
    ],
)
def test_a_stack_value_becomes_the_engines_string(tmp_path, written, engine):
    assert stack_values(tmp_path, f"  hive:x: {written}\n") == {"hive:x": engine}


def test_a_bom_is_dropped_as_pulumi_drops_it(tmp_path):
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_bytes(b"\xef\xbb\xbfconfig:\n  hive:cidr: 10.1.0.0/16\n")
    assert load_pulumi_yaml(path, path.name) == {"config": {"hive:cidr": "10.1.0.0/16"}}


def test_a_repeated_stack_key_is_blamed_on_itself_with_both_lines(tmp_path):
    with pytest.raises(ConfigError) as err:
        stack_values(tmp_path, "  hive:cidr: 10.1.0.0/16\n  hive:name: a\n  hive:cidr: 10.2.0.0/16\n")
    assert str(err.value) == (
        "Pulumi.staging.yaml: hive:cidr: is defined twice (line 2 and line 4) (each key once per mapping; delete one)"
    )


def test_keys_are_compared_by_their_text_as_yaml_v3_does(tmp_path):
    with pytest.raises(ConfigError, match=r"hive:x: is defined twice"):
        stack_values(tmp_path, "  hive:x: 1\n  'hive:x': 2\n")


def test_a_repeated_nested_services_key_names_its_path(tmp_path):
    path = tmp_path / "site.yml"
    path.write_text("plugin: hive_services\nservices:\n  web:\n    image: a\n    image: b\n")
    with pytest.raises(ConfigError) as err:
        load_services_yaml(path, "services/site.yml")
    assert str(err.value) == (
        "services/site.yml: services.web.image: is defined twice (line 4 and line 5) "
        "(each key once per mapping; delete one)"
    )


def test_a_yaml_error_keeps_the_parsers_whole_complaint(tmp_path):
    path = tmp_path / "site.yml"
    path.write_text('plugin: hive_services\nservices:\n  web: {image: "a}\n')
    with pytest.raises(ConfigError) as err:
        load_services_yaml(path, "services/site.yml")
    assert str(err.value) == (
        "services/site.yml: line 4, column 1: invalid YAML: found unexpected end of stream "
        "(while scanning a quoted scalar at line 3, column 16)"
    )
