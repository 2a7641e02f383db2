"""Regenerate ``docker.json``, the docker constraint table, from the providers' source at pinned commits.

    python -m tests.provider_schema.refresh KREUZWERKER_GIT KREUZWERKER_COMMIT PULUMI_DOCKER_GIT PULUMI_DOCKER_COMMIT

Both arguments are git directories (a bare mirror is enough: files are read with ``git show <commit>:<path>``).
pulumi-docker pins its bridged half as the ``upstream`` submodule (kreuzwerker/terraform-provider-docker) — take
KREUZWERKER_COMMIT from ``git ls-tree <commit> upstream`` there. The bridged resources' constraints come from
kreuzwerker's ``internal/provider/resource_docker_*.go`` (:mod:`tests.provider_schema.go_schema`); the native
``docker:index/image:Image`` has no Go schema literal: its inputs, required inputs and enums come from
pulumi-docker's ``provider/cmd/pulumi-resource-docker/schema.json``.

Upgrading pulumi-docker: bump requirements.txt, run this against the new commits, read the diff of docker.json,
and run the tests — a new conflict or enumeration shows up as a failing program or rehearsal test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.provider_schema.go_schema import parse_resource

TABLE = Path(__file__).with_name("docker.json")
PROVIDER_DIR = "internal/provider"
BRIDGED = {  # Pulumi type token → (kreuzwerker file, schema function, terraform type)
    "docker:index/service:Service": ("resource_docker_service.go", "resourceDockerService", "docker_service"),
    "docker:index/network:Network": ("resource_docker_network.go", "resourceDockerNetwork", "docker_network"),
    "docker:index/volume:Volume": ("resource_docker_volume.go", "resourceDockerVolume", "docker_volume"),
    "docker:index/container:Container": (
        "resource_docker_container.go",
        "resourceDockerContainer",
        "docker_container",
    ),
    "docker:index/remoteImage:RemoteImage": ("resource_docker_image.go", "resourceDockerImage", "docker_image"),
    "docker:index/secret:Secret": ("resource_docker_secret.go", "resourceDockerSecret", "docker_secret"),
}
NATIVE = ("docker:index/image:Image",)
SCHEMA_JSON = "provider/cmd/pulumi-resource-docker/schema.json"


def git_show(repo: str, commit: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", repo, "show", f"{commit}:{path}"], capture_output=True, text=True, check=True
    ).stdout


def _native_attribute(spec: dict[str, Any], types: dict[str, Any], required: bool) -> dict[str, Any]:
    attr: dict[str, Any] = {"required": required, "optional": not required}
    ref = spec.get("$ref", "")
    if ref.startswith("#/types/"):
        target = types[ref.removeprefix("#/types/")]
        if "enum" in target:
            attr["type"] = target.get("type", "string")
            attr["validate"] = {"kind": "one_of", "values": [e["value"] for e in target["enum"]], "ignore_case": False}
        else:
            attr["type"] = "object"
            attr["max_items"] = 1
            attr["fields"] = _native_fields(target, types)
    else:
        attr["type"] = spec.get("type", "")
    return attr


def _native_fields(obj: dict[str, Any], types: dict[str, Any], key: str = "properties") -> dict[str, Any]:
    required = set(obj.get("required", obj.get("requiredInputs", [])))
    return {name: _native_attribute(spec, types, name in required) for name, spec in obj.get(key, {}).items()}


def build_table(kreuzwerker: str, k_commit: str, pulumi_docker: str, p_commit: str) -> dict[str, Any]:
    helpers = git_show(kreuzwerker, k_commit, f"{PROVIDER_DIR}/helpers.go")
    resources: dict[str, Any] = {}
    for token, (file, func, tf_type) in BRIDGED.items():
        source = git_show(kreuzwerker, k_commit, f"{PROVIDER_DIR}/{file}")
        resources[token] = {
            "terraform": tf_type,
            "source": f"kreuzwerker/terraform-provider-docker {PROVIDER_DIR}/{file} {func}",
            "fields": parse_resource(source, func, helpers),
        }
    schema = json.loads(git_show(pulumi_docker, p_commit, SCHEMA_JSON))
    for token in NATIVE:
        resource = schema["resources"][token]
        required = set(resource.get("requiredInputs", []))
        resources[token] = {
            "native": True,
            "source": f"pulumi/pulumi-docker {SCHEMA_JSON} resources[{token}]",
            "fields": {
                name: _native_attribute(spec, schema["types"], name in required)
                for name, spec in resource["inputProperties"].items()
            },
        }
    return {
        "commits": {"kreuzwerker/terraform-provider-docker": k_commit, "pulumi/pulumi-docker": p_commit},
        "resources": resources,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    table = build_table(*argv)
    TABLE.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {TABLE} ({len(table['resources'])} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
