"""services:<key> config values in service definitions: {{ config.<key> }} substitution and secrets: (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from components.inventory.errors import ConfigError
from components.inventory.service_config import check_secrets, check_unused, substitute_documents
from components.inventory.services import ServiceSecret, parse_catalog
from components.inventory.stage import ConfigValue
from components.swarm.image_digest import pinned, run_marker
from components.swarm.secrets import secret_data, secret_name, secret_suffix

FILE = "services/site.yml"
STACK = "Pulumi.staging.yaml"


def doc(**services: Any) -> list[tuple[str, Any]]:
    return [(FILE, {"plugin": "hive_services", "services": services})]


def plain(value: str) -> ConfigValue:
    return ConfigValue(value, STACK)


def secret(value: str = "[secret]") -> ConfigValue:
    return ConfigValue(value, STACK, secret=True)


def load(documents: list[tuple[str, Any]], config: dict[str, ConfigValue]):
    catalog = parse_catalog(substitute_documents(documents, config))
    check_secrets(catalog, config)
    check_unused(documents, catalog, config)
    return catalog


def test_a_plain_value_is_substituted_into_strings_of_the_service() -> None:
    documents = doc(web={"image": "nginx:{{ config.web_tag }}", "environment": {"URL": "https://{{config.host}}/"}})
    config = {"services:web_tag": plain("1.27"), "services:host": plain("www.example.com")}
    web = load(documents, config).services[0]
    assert web.image == "nginx:1.27"
    assert web.environment == {"URL": "https://www.example.com/"}


def test_a_substituted_value_is_checked_like_a_written_one() -> None:
    config = {"services:web_tag": plain("Bad Tag")}
    with pytest.raises(ConfigError, match=r"^services/site.yml: services.web.image: nginx:Bad Tag is invalid"):
        load(doc(web={"image": "nginx:{{ config.web_tag }}"}), config)


def test_an_unset_key_is_an_error_naming_the_set_command() -> None:
    with pytest.raises(ConfigError) as exc:
        load(doc(web={"image": "nginx", "command": ["--host={{ config.host }}"]}), {})
    assert str(exc.value) == (
        "services/site.yml: services.web.command[0]: refers to services:host, which is not set "
        "(pulumi config set services:host VALUE)"
    )


def test_a_secret_key_cannot_be_substituted() -> None:
    with pytest.raises(ConfigError) as exc:
        load(doc(db={"image": "mariadb", "environment": {"PW": "{{ config.pw }}"}}), {"services:pw": secret()})
    assert str(exc.value).startswith(
        "services/site.yml: services.db.environment.PW: services:pw is a secret: it would be written into the "
        "service spec in plain text (list pw under the service's secrets:"
    )


def test_a_malformed_reference_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"services.web.command\[0\]: .* has a malformed config reference"):
        load(doc(web={"image": "nginx", "command": ["{{ config.bad key }}"]}), {})


def test_docker_templates_pass_through() -> None:
    web = load(doc(web={"image": "nginx", "environment": {"NODE": "{{.Node.Hostname}}"}}), {}).services[0]
    assert web.environment == {"NODE": "{{.Node.Hostname}}"}


def test_secrets_short_and_long_form() -> None:
    documents = doc(
        db={
            "image": "mariadb",
            "secrets": ["root_pw", {"config": "app_pw", "target": "app", "env": "APP_PW_FILE", "mode": 0o440}],
        }
    )
    db = load(documents, {"services:root_pw": secret(), "services:app_pw": secret()}).services[0]
    assert [(s.config, s.target, s.env, s.mode) for s in db.secrets] == [
        ("root_pw", "root_pw", None, 0o400),
        ("app_pw", "app", "APP_PW_FILE", 0o440),
    ]
    assert db.secrets[1].file == "/run/secrets/app"


def test_a_secret_key_must_be_set() -> None:
    with pytest.raises(ConfigError) as exc:
        load(doc(db={"image": "mariadb", "secrets": ["pw"]}), {})
    assert str(exc.value) == (
        "services/site.yml: services.db.secrets[0]: services:pw is not set "
        "(pulumi config set --secret services:pw VALUE)"
    )


def test_a_plain_key_listed_as_secret_is_refused() -> None:
    with pytest.raises(ConfigError) as exc:
        load(doc(db={"image": "mariadb", "secrets": [{"config": "pw"}]}), {"services:pw": plain("hunter2")})
    assert str(exc.value).startswith(
        "Pulumi.staging.yaml: services:pw: is in plain text, but services/site.yml gives it to service db as a secret"
    )
    assert "hunter2" not in str(exc.value)


def test_an_unset_key_with_generate_is_accepted() -> None:
    db = load(doc(db={"image": "mariadb", "secrets": [{"config": "pw", "generate": 32}]}), {}).services[0]
    assert db.secrets == (ServiceSecret("pw", "pw", generate=32, path=("services", "db", "secrets", 0, "config")),)


def test_two_files_with_the_same_target_are_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"services.db.secrets\[1\]: /run/secrets/pw is also the file of secrets\[0\]"
    ):
        parse_catalog(doc(db={"image": "mariadb", "secrets": ["pw", {"config": "other", "target": "pw"}]}))


def test_a_file_variable_that_is_also_in_environment_is_refused() -> None:
    service = {"image": "mariadb", "environment": {"PW_FILE": "x"}, "secrets": [{"config": "pw", "env": "PW_FILE"}]}
    with pytest.raises(ConfigError, match=r"services.db.secrets\[0\].env: PW_FILE is also set in environment"):
        parse_catalog(doc(db=service))


def test_an_unused_key_is_an_error_with_the_close_match() -> None:
    documents = doc(db={"image": "mariadb", "secrets": ["db_password"]})
    config = {"services:db_password": secret(), "services:db_pasword": secret()}
    with pytest.raises(ConfigError) as exc:
        load(documents, config)
    assert str(exc.value).startswith(
        "Pulumi.staging.yaml: services:db_pasword: no service refers to it (did you mean services:db_password?"
    )


def test_secret_names_change_with_the_value_and_reveal_no_plain_hash() -> None:
    first = secret_name("db", "pw", secret_suffix("stack-key", "db", "pw", "one"))
    second = secret_name("db", "pw", secret_suffix("stack-key", "db", "pw", "two"))
    assert first != second and first.startswith("db-pw-") and len(first) == len("db-pw-") + 12
    assert secret_suffix("other-key", "db", "pw", "one") != secret_suffix("stack-key", "db", "pw", "one")


def test_a_long_secret_name_keeps_swarms_limit_and_its_whole_suffix() -> None:
    name = secret_name("s" * 63, "f" * 63, "0123456789ab")
    assert len(name) == 64 and name.endswith("-0123456789ab")


def test_secret_data_is_standard_base64() -> None:
    assert secret_data("pä/ss+") == "cMOkL3NzKw=="


def test_run_marker_is_the_up_time_and_the_recorded_one_in_preview() -> None:
    previous = {"db": {"image": "mariadb:11.4", "digest": "sha256:" + "a" * 64, "run": "2026-01-01T00:00:00+00:00"}}
    assert run_marker(previous, False, "now") == "now"
    assert run_marker(previous, True, "now") == "2026-01-01T00:00:00+00:00"
    assert run_marker({}, True, "now") == "now"  # no tag before: the step is new anyway
    assert run_marker(None, True, "now") == "now"


def test_pinned_takes_the_tags_digest_line_and_refuses_anything_else() -> None:
    digest, other = "sha256:" + "b" * 64, "sha256:" + "c" * 64
    stdout = f"redis:7 {other}\nmariadb:11.4 {digest}\n"
    assert pinned("mariadb:11.4", stdout, preview=False) == f"mariadb:11.4@{digest}"
    with pytest.raises(ValueError, match="not '<tag> sha256:<64 hex>'"):
        pinned("mariadb:11.4", "Error response from daemon\n", preview=False)


def test_pinned_refuses_a_tag_the_step_did_not_print_in_an_up() -> None:
    with pytest.raises(ValueError, match=r"no digest for mariadb:11\.5"):
        pinned("mariadb:11.5", f"mariadb:11.4 sha256:{'b' * 64}\n", preview=False)


def test_pinned_keeps_the_tag_when_the_step_did_not_run() -> None:
    assert pinned("mariadb:11.4", None, preview=False) == "mariadb:11.4"  # left out (up --target)
    # a preview keeps the last up's stdout, which lacks a tag added since
    assert pinned("mariadb:11.5", f"mariadb:11.4 sha256:{'b' * 64}\n", preview=True) == "mariadb:11.5"
