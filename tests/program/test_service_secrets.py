"""Services get secret config values as docker secrets; tag images run the digest resolved at ``up``.

The program runs under the harness mocks; what the docker provider does with a changed input (replace or
update) is read from its own schema (tests/provider_schema/docker.json: kreuzwerker's ForceNew flags)."""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness import ProgramRun, run_program
from tests.program.infra_support import HiveMocks
from tests.program.test_secret_config import plain_strings
from tests.provider_schema.constraints import replacing_paths

ROOT = Path(__file__).resolve().parents[2]
SECRET = "docker:index/secret:Secret"
SERVICE = "docker:index/service:Service"
COMMAND = "command:remote:Command"
DB_PASSWORD = "pw-7Qe2xRk9Lm"
API_KEY = "key-Zt4Wn8Yp3c"
CONFIG: dict[str, Any] = {
    "hive:name": "pdns",
    "hive:domain": "example.com",
    "hive:provider": "prepared",
    "hive:cidr": "192.168.0.0/24",
    "hive:separate_repository": False,
    "hive:ip_address_list": ["192.168.0.10", "192.168.0.11", "192.168.0.12"],
    "hive:ssh_private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0\n-----END OPENSSH PRIVATE KEY-----\n",
}
APP = {
    "image": "mariadb:11.4",
    "environment": {"MARIADB_DATABASE": "{{ config.database }}"},
    "secrets": [
        {"config": "db_password", "env": "MARIADB_PASSWORD_FILE"},
        {"config": "api_key", "target": "api", "uid": "999", "mode": 0o440},
    ],
}
SECRET_KEYS = ["hive:ssh_private_key", "services:db_password", "services:api_key"]


def project(tmp_path: Path) -> Path:
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("components", "hostsetup"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "services").mkdir()
    services = {"plugin": "hive_services", "services": {"app": APP}}
    (tmp_path / "services" / "site.yml").write_text(yaml.safe_dump(services))
    return tmp_path


def up(
    directory: Path, *, preview: bool = False, password: str = DB_PASSWORD, previous: ProgramRun | None = None
) -> ProgramRun:
    """One run; ``previous``: the ``up`` whose stack outputs the program's StackReference to itself reads."""
    config = {**CONFIG, "services:db_password": password, "services:api_key": API_KEY, "services:database": "app"}
    mocks = HiveMocks()
    if previous is not None:
        mocks.remember(previous)
    return run_program(directory, "staging", config, preview=preview, mocks=mocks, secret_config=SECRET_KEYS)


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return project(tmp_path_factory.mktemp("secrets"))


@pytest.fixture(scope="module")
def first(directory: Path) -> ProgramRun:
    return up(directory)


def app(run: ProgramRun) -> Any:
    return next(r for r in run.of_type(SERVICE) if r.inputs["name"] == "app")


def test_two_secrets_become_two_docker_secrets_the_service_refers_to(first: ProgramRun) -> None:
    secrets = {r.name: r for r in first.of_type(SECRET)}
    assert set(secrets) == {"secret-app-db_password", "secret-app-api"}
    references = sorted(app(first).input("taskSpec.containerSpec.secrets"), key=lambda s: s["fileName"])
    assert references == [
        {
            "secretId": secrets["secret-app-api"].id,
            "secretName": secrets["secret-app-api"].inputs["name"],
            "fileName": "api",
            "fileUid": "999",
            "fileGid": "0",
            "fileMode": 0o440,
        },
        {
            "secretId": secrets["secret-app-db_password"].id,
            "secretName": secrets["secret-app-db_password"].inputs["name"],
            "fileName": "db_password",
            "fileUid": "0",
            "fileGid": "0",
            "fileMode": 0o400,
        },
    ]
    for secret in secrets.values():
        assert secret.provider == app(first).provider  # the swarm's docker provider
        assert re.fullmatch(r"app-(db_password|api)-[0-9a-f]{12}", secret.inputs["name"])


def test_the_secret_data_is_the_value_and_a_secret_input(first: ProgramRun) -> None:
    secret = first.one(SECRET, "secret-app-db_password")
    assert base64.b64decode(secret.inputs["data"], validate=True).decode() == DB_PASSWORD
    assert secret.is_secret_input("data")


def test_the_file_variable_holds_the_path_and_plain_values_are_substituted(first: ProgramRun) -> None:
    assert app(first).input("taskSpec.containerSpec.env") == {
        "MARIADB_DATABASE": "app",
        "MARIADB_PASSWORD_FILE": "/run/secrets/db_password",
    }


@pytest.mark.parametrize("value", [DB_PASSWORD, API_KEY])
def test_secret_values_are_in_no_plain_input_output_or_command_line(first: ProgramRun, value: str) -> None:
    encoded = base64.b64encode(value.encode()).decode()
    assert [where for where, text in plain_strings(first) if value in text or encoded in text] == []
    assert first.find_leaks() == []


@pytest.mark.parametrize("value", [DB_PASSWORD, API_KEY])
def test_secret_values_are_in_no_generated_file(first: ProgramRun, directory: Path, value: str) -> None:
    written = [p for p in directory.rglob("*") if p.is_file() and not p.is_symlink() and "components" not in p.parts]
    assert [p for p in written if value.encode() in p.read_bytes()] == []


def test_a_new_value_is_a_new_secret_and_an_update_of_the_service(directory: Path, first: ProgramRun) -> None:
    second = up(directory, password=DB_PASSWORD + "-rotated")
    old, new = first.one(SECRET, "secret-app-db_password"), second.one(SECRET, "secret-app-db_password")
    assert new.inputs["name"] != old.inputs["name"]
    # the provider replaces it (name and data are ForceNew), create-before-delete: both names exist at once
    assert set(replacing_paths(SECRET, new.inputs, old.inputs)) == {"name", "data"}
    assert not new.delete_before_replace
    # the untouched secret keeps its name; the service refers to the new one (an update, not a replacement)
    assert second.one(SECRET, "secret-app-api").inputs["name"] == first.one(SECRET, "secret-app-api").inputs["name"]
    names = {s["fileName"]: s["secretName"] for s in app(second).input("taskSpec.containerSpec.secrets")}
    assert names["db_password"] == new.inputs["name"]
    assert replacing_paths(SERVICE, app(second).inputs, app(first).inputs) == []
    assert app(second).inputs != app(first).inputs


def test_an_unset_key_with_generate_is_a_random_password(tmp_path: Path) -> None:
    directory = project(tmp_path)
    services = {"plugin": "hive_services", "services": {"app": {**APP, "secrets": [{"config": "x", "generate": 24}]}}}
    (directory / "services" / "site.yml").write_text(yaml.safe_dump(services))
    config = {**CONFIG, "services:database": "app"}
    run = run_program(
        directory, "staging", config, preview=False, mocks=HiveMocks(), secret_config=["hive:ssh_private_key"]
    )
    password = run.one("random:index/randomPassword:RandomPassword", "services-x")
    assert password.inputs["length"] == 24 and password.inputs["special"] is False
    data = run.one(SECRET, "secret-app-x").inputs["data"]
    assert base64.b64decode(data).decode() == password.outputs["result"]
    assert run.find_leaks() == []


# --- tag images ------------------------------------------------------------------------------------------------


def test_a_tag_image_runs_the_digest_resolved_in_up(first: ProgramRun) -> None:
    step = first.one(COMMAND, "image-digests")
    digest = step.outputs["stdout"].split()[-1]
    assert step.outputs["stdout"] == f"mariadb:11.4 {digest}\n"
    assert app(first).input("taskSpec.containerSpec.image") == f"mariadb:11.4@{digest}"
    assert first.outputs["images"] == {"app": {"image": "mariadb:11.4", "digest": digest, "run": marker(step)}}


def test_the_tags_follow_the_script_on_stdin(first: ProgramRun) -> None:
    script = (ROOT / "components/swarm/image-digest.sh").read_text()
    assert first.one(COMMAND, "image-digests").input("stdin") == script + "mariadb:11.4\n"


def marker(step: Any) -> str:
    match = re.search(r"HIVE_RUN=(\S+)", step.input("create"))
    assert match
    return match.group(1).strip("'")


def test_a_preview_repeats_the_last_ups_command_so_nothing_runs(directory: Path, first: ProgramRun) -> None:
    preview = up(directory, preview=True, previous=first)
    assert preview.one(COMMAND, "image-digests").input("create") == first.one(COMMAND, "image-digests").input("create")


def test_the_next_up_runs_the_command_again(directory: Path, first: ProgramRun) -> None:
    again = up(directory, previous=first)
    before, after = first.one(COMMAND, "image-digests"), again.one(COMMAND, "image-digests")
    # a changed `create` (not `triggers`): pulumi-command updates in place and runs `create` again
    assert marker(after) != marker(before)
    assert after.input("triggers") is None


def test_a_pinned_image_is_not_resolved(tmp_path: Path) -> None:
    directory = project(tmp_path)
    pinned = "mariadb:11.4@sha256:" + "c" * 64
    services = {"plugin": "hive_services", "services": {"app": {"image": pinned}}}
    (directory / "services" / "site.yml").write_text(yaml.safe_dump(services))
    run = run_program(directory, "staging", CONFIG, preview=False, mocks=HiveMocks(), secret_config=SECRET_KEYS[:1])
    assert [r.name for r in run.of_type(COMMAND) if r.name.startswith("image-digest")] == []  # no tag: no step
    assert app(run).input("taskSpec.containerSpec.image") == pinned


def test_a_tag_in_the_site_registry_is_pulled_with_the_registry_login(tmp_path: Path, first: ProgramRun) -> None:
    directory = project(tmp_path)
    tag = f"{first.outputs['registry']}/tools:stable"
    services = {"plugin": "hive_services", "services": {"app": {"image": tag}}}
    (directory / "services" / "site.yml").write_text(yaml.safe_dump(services))
    run = run_program(directory, "staging", CONFIG, preview=False, mocks=HiveMocks(), secret_config=SECRET_KEYS[:1])
    assert app(run).input("taskSpec.containerSpec.image").startswith(f"{tag}@sha256:")
    assert app(run).input("auth.serverAddress") == first.outputs["registry"]
    assert app(run).is_secret_input("auth.password")
