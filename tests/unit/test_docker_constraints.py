"""The docker constraint table (tests/provider_schema/docker.json) and its checker, without mocks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.provider_schema import go_schema
from tests.provider_schema.constraints import check_inputs, load_table, replacing_paths
from tests.provider_schema.refresh import build_table

SERVICE = "docker:index/service:Service"
NETWORK = "docker:index/network:Network"
IMAGE = "docker:index/image:Image"
GLOBAL = {"name": "dns", "taskSpec": {"containerSpec": {"image": "x"}}, "mode": {"global": True}}
CONVERGE = {"delay": "7s", "timeout": "3m"}


def test_table_names_the_commits_it_was_read_from() -> None:
    commits = load_table()["commits"]
    assert commits["kreuzwerker/terraform-provider-docker"] == "5074970c71ce6cc393c74942d5d628943834beb9"  # v4.5.0
    assert commits["pulumi/pulumi-docker"] == "237b7899bb513613a7645e74d6981c12d054dcc7"


def test_table_holds_the_upstream_service_conflict() -> None:
    mode = load_table()["resources"][SERVICE]["fields"]["mode"]
    assert mode["fields"]["global"]["conflicts_with"] == ["mode.0.replicated", "converge_config"]
    assert mode["force_new"] and mode["computed"]


def test_global_service_with_converge_config_is_refused() -> None:
    problems = check_inputs(SERVICE, {**GLOBAL, "convergeConfig": CONVERGE})
    assert f"{SERVICE}: mode.0.global conflicts with converge_config (ConflictsWith)" in problems
    assert check_inputs(SERVICE, GLOBAL) == []


def test_explicit_false_counts_as_set() -> None:
    inputs = {**GLOBAL, "mode": {"global": False, "replicated": {"replicas": 2}}}
    assert any("mode.0.replicated conflicts with mode.0.global" in p for p in check_inputs(SERVICE, inputs))


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (("taskSpec", "restartPolicy", "condition"), "always", "does not match ^(none|on-failure|any)$"),
        (("endpointSpec", "ports"), [{"targetPort": 53, "protocol": "icmp"}], "does not match ^(tcp|udp|sctp)$"),
        (("updateConfig", "failureAction"), "retry", "does not match ^(pause|continue|rollback)$"),
        (("updateConfig", "maxFailureRatio"), "1.5", "no ratio between 0 and 1"),
        (("convergeConfig", "timeout"), "-3m", "no duration >= 0"),
        (("taskSpec", "containerSpec", "capabilities"), ["X"], "capabilities: no such input"),
        (("taskSpec", "placement"), [{"constraints": []}], "a list where the schema has one block"),
    ],
)
def test_refused_inputs(path: tuple[str, ...], value: object, problem: str) -> None:
    inputs = json.loads(json.dumps({"name": "w", "taskSpec": {"containerSpec": {"image": "x"}}}))
    node = inputs
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    assert any(problem in p for p in check_inputs(SERVICE, inputs)), check_inputs(SERVICE, inputs)


def test_required_and_computed_only() -> None:
    assert f"{SERVICE}: taskSpec.containerSpec: required image is missing" in check_inputs(
        SERVICE, {"name": "w", "taskSpec": {"containerSpec": {}}}
    )
    assert f"{NETWORK}: scope: computed by the provider, not an input" in check_inputs(
        NETWORK, {"name": "n", "scope": "swarm"}
    )


def test_native_image_enums_and_fields() -> None:
    problems = check_inputs(IMAGE, {"imageName": "r/x", "build": {"builderVersion": "V9", "platfrom": "linux"}})
    assert any("'V9' is not one of ['BuilderV1', 'BuilderBuildKit']" in p for p in problems)
    assert any("build.platfrom: no such input" in p for p in problems)
    assert check_inputs(IMAGE, {"build": {}}) == [f"{IMAGE}: required imageName is missing"]


def test_overlay_options_read_back_with_a_vni_replace_the_network() -> None:
    state = {"name": "n", "driver": "overlay", "options": {"mtu": "1450", "vxlan": "4097"}, "scope": "swarm",
             "internal": False, "ipamDriver": "default", "ipamConfigs": [{"subnet": "10.0.0.0/24"}]}  # fmt: skip
    assert replacing_paths(NETWORK, {"name": "n", "driver": "overlay", "options": {"mtu": "1450"}}, state) == [
        "options"
    ]
    same = {"name": "n", "driver": "overlay", "options": {"mtu": "1450", "vxlan": "4097"}}
    assert replacing_paths(NETWORK, same, state) == [], "computed attributes left out keep the state's value"


def test_service_update_in_place_is_no_replacement() -> None:
    old = {**GLOBAL, "labels": [{"label": "a", "value": "1"}]}
    new = {**GLOBAL, "labels": [{"label": "a", "value": "2"}]}
    assert replacing_paths(SERVICE, new, old) == []
    assert replacing_paths(SERVICE, {**new, "name": "dns2"}, old) == ["name"]


GO = """
func resourceX() *schema.Resource {
	return &schema.Resource{
		Schema: map[string]*schema.Schema{
			"a": {
				Type:          schema.TypeString, // a comment, {braces}
				Optional:      true,
				ConflictsWith: []string{"b"},
				ValidateFunc:  validation.StringInSlice([]string{"x", "y"}, false),
			},
			"b": {
				Type:     schema.TypeList,
				MaxItems: 1,
				ForceNew: true,
				Elem: &schema.Resource{
					Schema: map[string]*schema.Schema{
						"c": {Type: schema.TypeInt, Required: true, ValidateDiagFunc: validateIntegerGeqThan(1)},
					},
				},
			},
		},
	}
}
"""


def test_go_schema_reader() -> None:
    fields = go_schema.parse_resource(GO, "resourceX")
    assert fields["a"] == {
        "type": "TypeString",
        "optional": True,
        "conflicts_with": ["b"],
        "validate": {"kind": "one_of", "values": ["x", "y"], "ignore_case": False},
    }
    assert fields["b"]["fields"]["c"] == {
        "type": "TypeInt",
        "required": True,
        "validate": {"kind": "int_min", "min": 1},
    }
    assert fields["b"]["max_items"] == 1 and fields["b"]["force_new"] is True


def test_go_schema_reader_refuses_what_it_does_not_know() -> None:
    with pytest.raises(go_schema.SchemaSyntaxError, match="field NewThing is not understood"):
        go_schema.parse_resource(GO.replace("Optional:      true,", "NewThing: 1,"), "resourceX")


def test_table_is_what_the_pinned_source_says() -> None:
    kreuzwerker, pulumi_docker = os.environ.get("KREUZWERKER_GIT"), os.environ.get("PULUMI_DOCKER_GIT")
    if not (kreuzwerker and pulumi_docker and Path(kreuzwerker).exists() and Path(pulumi_docker).exists()):
        pytest.skip("KREUZWERKER_GIT / PULUMI_DOCKER_GIT (git checkouts of the providers) are not set: no network here")
    commits = load_table()["commits"]
    table = build_table(
        kreuzwerker,
        commits["kreuzwerker/terraform-provider-docker"],
        pulumi_docker,
        commits["pulumi/pulumi-docker"],
    )
    assert table == load_table()
