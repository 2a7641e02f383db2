"""Bad input is caught before anything is created — the same one line from the offline command and the program.

One table, at least one case per class of issue 15 (crashes, unclear messages, the two readers disagreeing,
accepted-but-cannot-work), plus valid one-, two- and three-hive sites. Each case is a project directory
(``Pulumi.yaml``, ``Pulumi.staging.yaml``, ``services/``) and runs twice:

* ``python -m components inventory --stack staging`` in a subprocess: exit 2, exactly the expected line on
  stderr, nothing else (no traceback); a valid case exits 0.
* the real ``__main__.py`` under the harness mocks, given the config the engine would hand it for those files
  (:func:`components.inventory.sources.engine_view`; a ``secure:`` value as its decrypted text, marked secret):
  ``pulumi.RunError`` with the same line, and no resource registered. When the engine itself refuses the
  stack file (bad YAML, a repeated key), the program gets no config and must refuse the file the same way.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pytest

from components.inventory.errors import ConfigError
from components.inventory.sources import engine_view
from tests.harness import run_program
from tests.program.infra_support import HiveMocks

ROOT = Path(__file__).resolve().parents[2]
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nZmFrZQ==\n-----END OPENSSH PRIVATE KEY-----\n"

AWS = """\
config:
  hive:provider: aws
  hive:region: ap-northeast-1
  hive:cidr: 10.1.0.0/16
  hive:separate_repository: false
  hive:mirrored_disk_size: 20
  hive:internal_cidr: 10.254.0.0/16
  hive:admin_cidrs:
    - 203.0.113.0/24
"""
LOCAL = """\
config:
  hive:provider: local
  hive:cidr: 10.199.60.0/24
  hive:separate_repository: false
  hive:internal_cidr: 10.254.0.0/16
"""
WEB = """\
plugin: hive_services
services:
  web:
    image: nginx:1.27
    ports:
      - "8080:80"
"""


def services(body: str) -> str:
    return "plugin: hive_services\nservices:\n" + body


DB = "  db:\n    image: mariadb:11\n"
DRBD = "    volumes:\n      - {source: data, target: /var/lib/mysql, drbd: {size: 1G}}\n"


@dataclass(frozen=True)
class Case:
    id: str
    expected: str  # the whole line; "" for a valid site
    stack: str = AWS
    files: dict[str, str | bytes | None] = field(default_factory=lambda: {"site.yml": WEB})  # None: a directory
    secrets: dict[str, str] = field(default_factory=dict)  # decrypted values of the secure: keys
    dirs: tuple[str, ...] = ()  # directories (with files) to create under services/
    warning: str = ""  # a warning both paths must show (valid cases)


S = "Pulumi.staging.yaml"
Y = "services/site.yml"
CASES = [
    # -- crashes ------------------------------------------------------------------------------------------
    Case(
        "services-not-utf8",
        f"{Y}: line 5: is not UTF-8 text (byte 0xe9 at offset 74) (save it as UTF-8)",
        files={"site.yml": WEB.encode().replace(b"nginx:1.27", b"nginx:1.27\n    user: caf\xe9")},
    ),
    Case(
        "directory-named-yml",
        "services/extra.yml: is a directory (a YAML file)",
        files={"site.yml": WEB, "extra.yml": None},
    ),
    # -- unclear ------------------------------------------------------------------------------------------
    Case(
        "services-yaml-syntax",
        f"{Y}: line 5, column 13: invalid YAML: mapping values are not allowed here",
        files={"site.yml": services("  web:\n    image: nginx\n    ports: a: b\n")},
    ),
    Case(
        "stack-yaml-syntax",
        f"{S}: line 3, column 1: invalid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence at line 2, column 21)",
        stack="config:\n  hive:admin_cidrs: [203.0.113.0/24\n",
    ),
    Case(
        "services-duplicate-key",
        f"{Y}: services.web: is defined twice (line 3 and line 5) (each key once per mapping; delete one)",
        files={"site.yml": services("  web:\n    image: nginx\n  web:\n    image: httpd\n")},
    ),
    Case(
        "stack-duplicate-key",
        f"{S}: hive:cidr: is defined twice (line 4 and line 10) (each key once per mapping; delete one)",
        stack=AWS + "  hive:cidr: 10.2.0.0/16\n",
    ),
    Case(
        "broadcast-address",
        f"{S}: hive:ip_address_list[2]: 10.199.60.255 is the broadcast address of hive:cidr 10.199.60.0/24 "
        "(a host address in 10.199.60.0/24)",
        stack=LOCAL + "  hive:ip_address_list: [10.199.60.10, 10.199.60.11, 10.199.60.255]\n",
    ),
    Case(
        "service-named-a-number",
        f"{Y}: services: key 8080 is read as a number, not a name (quote it: '8080')",
        files={"site.yml": services("  8080:\n    image: nginx\n")},
    ),
    Case(
        "network-named-on",
        f"{Y}: networks: key on is read as the boolean True, not a name "
        "(YAML 1.1 reads yes/no/on/off as booleans: quote it, 'on')",
        files={"site.yml": "plugin: hive_services\nnetworks:\n  on: {}\n"},
    ),
    Case(
        "relative-bind-source",
        f"{Y}: services.web.volumes[0].source: ./html is a relative path: a bind mount needs an absolute host "
        "path (an absolute path like /srv/data, or a volume name (letters, digits, '_', '.', '-'))",
        files={
            "site.yml": services("  web:\n    image: nginx\n    volumes:\n      - {source: ./html, target: /srv}\n")
        },
    ),
    # -- the offline command and pulumi up read the stack file the same way (YAML 1.2) ----------------------
    Case(
        "yes-is-a-string-in-yaml-1.2",
        f"{S}: hive:separate_repository: yes is invalid "
        "(true or false: YAML 1.2, which Pulumi reads stack files with, takes yes/no/on/off as strings)",
        stack=AWS.replace("separate_repository: false", "separate_repository: yes"),
    ),
    # -- accepted but cannot work -------------------------------------------------------------------------
    Case(
        "publishes-ssh",
        f"{Y}: services.web.ports[0]: publishes 22, the hosts' ssh port "
        "(another port; 22, 2376, 2377, 4789, 5000, 7946 belong to the hosts)",
        files={"site.yml": services("  web:\n    image: nginx\n    ports: ['22:22']\n")},
    ),
    Case(
        "publishes-docker-api",
        f"{Y}: services.web.ports[0]: publishes 2376, the hosts' the docker API (TLS) port "
        "(another port; 22, 2376, 2377, 4789, 5000, 7946 belong to the hosts)",
        files={"site.yml": services("  web:\n    image: nginx\n    ports: ['2376:80']\n")},
    ),
    Case(
        "publishes-swarm-management",
        f"{Y}: services.web.ports[0]: publishes 2377, the hosts' swarm management port "
        "(another port; 22, 2376, 2377, 4789, 5000, 7946 belong to the hosts)",
        files={"site.yml": services("  web:\n    image: nginx\n    ports: ['2377:80']\n")},
    ),
    Case(
        "same-port-twice",
        f"{Y}: services.web.ports[1]: 8080/tcp is already published by ports[0] of this service "
        "(each published port once)",
        files={"site.yml": services("  web:\n    image: nginx\n    ports: ['8080:80', '8080:81']\n")},
    ),
    Case(
        "dnsrr-with-ingress-port",
        f"{Y}: services.web.ports[0]: is an ingress port, but endpoint_mode is dnsrr (swarm refuses: the ingress "
        "needs a virtual IP) (mode: host for this port, or endpoint_mode: vip)",
        files={"site.yml": services("  web:\n    image: nginx\n    endpoint_mode: dnsrr\n    ports: ['8080:80']\n")},
    ),
    Case(
        "drbd-on-global-service",
        f"{Y}: services.db.volumes[0]: DRBD volume data on a global service: DRBD has one primary, a second task "
        "cannot mount it (mode: replicated with replicas: 1, or a driver volume)",
        files={"site.yml": services(DB + "    mode: global\n" + DRBD)},
    ),
    Case(
        "drbd-on-three-replicas",
        f"{Y}: services.db.volumes[0]: DRBD volume data on a service with 3 replicas: DRBD has one primary, a "
        "second task cannot mount it (replicas: 1)",
        files={"site.yml": services(DB + "    replicas: 3\n" + DRBD)},
    ),
    Case(
        "drbd-without-mirrored-disk",
        f"{S}: hive:mirrored_disk_size: is not set, but this stage has DRBD volumes (data 1 GiB) "
        "(the size in GiB of each hive's DRBD disk, at least 2)",
        stack=AWS.replace("  hive:mirrored_disk_size: 20\n", ""),
        files={"site.yml": services(DB + DRBD)},
    ),
    Case(
        "drbd-larger-than-mirrored-disk",
        f"{S}: hive:mirrored_disk_size: 20 GiB cannot hold this stage's DRBD volumes (data 30 GiB, with metadata "
        "30.00 GiB) (at least 31, or smaller volumes)",
        files={"site.yml": services(DB + DRBD.replace("size: 1G", "size: 30G"))},
    ),
    Case(
        "drbd-on-more-hives-than-drbd-peers",
        f"{S}: hive:number_of_hosts: 9 hives, but a DRBD volume (data) is mirrored on every hive and DRBD keeps at "
        "most 7 peers per resource (at most 8 hives on a stage with DRBD volumes)",
        stack=AWS + "  hive:number_of_hosts: 9\n",
        files={"site.yml": services(DB + DRBD)},
    ),
    Case(
        "build-context-missing",
        f"{Y}: services.web.image.context: services/web/ is not a directory (a build directory under services/)",
        files={"site.yml": services("  web:\n    image: {context: web}\n")},
    ),
    Case(
        "dockerfile-missing",
        f"{Y}: services.web.image.dockerfile: services/web/Dockerfile.prod does not exist "
        "(a Dockerfile in the build context)",
        files={"site.yml": services("  web:\n    image: {context: web, dockerfile: Dockerfile.prod}\n")},
        dirs=("web",),
    ),
    Case(
        "gateway-address",
        f"{S}: hive:ip_address_list[0]: 10.199.60.1 cannot be a host address in 10.199.60.0/24: the network's "
        "gateway (its first address) belongs to the docker bridge (another address of the subnet)",
        stack=LOCAL + "  hive:ip_address_list: [10.199.60.1, 10.199.60.11, 10.199.60.12]\n",
    ),
    Case(
        "aws-reserved-address",
        f"{S}: hive:ip_address_list[1]: 10.1.1.3 cannot be a host address in 10.1.1.0/24: AWS reserves the first "
        "four and the last address of a subnet (another address of the subnet)",
        stack=AWS
        + "  hive:subnets:\n    - {cidr: 10.1.1.0/24, name: a, available_zone: ap-northeast-1a}\n"
        + "  hive:ip_address_list: [10.1.1.10, 10.1.1.3, 10.1.1.12]\n",
    ),
    Case(
        "gcp-reserved-address",
        f"{S}: hive:ip_address_list[2]: 10.2.0.254 cannot be a host address in 10.2.0.0/24: GCP reserves the "
        "first two and the last two addresses of a subnet (another address of the subnet)",
        stack=AWS.replace("provider: aws", "provider: gcp")
        .replace("ap-northeast-1", "asia-northeast1")
        .replace("10.1.0.0/16", "10.2.0.0/24")
        + "  gcp:project: example\n  hive:ip_address_list: [10.2.0.10, 10.2.0.11, 10.2.0.254]\n",
    ),
    Case(
        "cidr-is-docker-bridge",
        f"{S}: hive:cidr: 172.17.0.0/16 overlaps 172.17.128.0/16... ",  # replaced below
        stack=LOCAL.replace("10.199.60.0/24", "172.17.0.0/16").replace("  hive:internal_cidr: 10.254.0.0/16\n", ""),
    ),
    Case(
        "overlay-overlaps-internal-cidr",
        f"{Y}: networks.back.ipam.config[0].subnet: 10.254.3.0/24 overlaps hive:internal_cidr 10.254.0.0/16 "
        "(a subnet disjoint from the site's networks)",
        files={"site.yml": "plugin: hive_services\nnetworks:\n  back: {ipam: {config: [{subnet: 10.254.3.0/24}]}}\n"},
    ),
    Case(
        "overlay-overlaps-cidr",
        f"{Y}: networks.back.ipam.config[0].subnet: 10.1.7.0/24 overlaps hive:cidr 10.1.0.0/16 "
        "(a subnet disjoint from the site's networks)",
        files={"site.yml": "plugin: hive_services\nnetworks:\n  back: {ipam: {config: [{subnet: 10.1.7.0/24}]}}\n"},
    ),
    Case(
        "upper-case-service-name",
        f"{Y}: services.Web: name 'Web' has upper-case letters (service names are lower-case: images are named "
        "after them)",
        files={"site.yml": services("  Web:\n    image: nginx\n")},
    ),
    Case(
        "upper-case-image",
        f"{Y}: services.web.image: Nginx:1.27 has upper-case letters (docker image names are lower-case)",
        files={"site.yml": services("  web:\n    image: Nginx:1.27\n")},
    ),
    Case(
        "malformed-constraint",
        f"{Y}: services.web.placement.constraints[0]: node.labels.az = a is invalid "
        "(<attribute> == <value> or <attribute> != <value>, e.g. node.labels.hives == true)",
        files={"site.yml": services("  web:\n    image: nginx\n    placement: {constraints: [node.labels.az = a]}\n")},
    ),
    Case(
        "overflowing-duration",
        f"{Y}: services.web.stop_grace_period: 9999999h is longer than docker can hold "
        "(at most 2562047h (Go's time.Duration))",
        files={"site.yml": services("  web:\n    image: nginx\n    stop_grace_period: 9999999h\n")},
    ),
    Case(
        "zone-outside-region",
        f"{S}: hive:subnets[0].available_zone: us-east-1a is not a zone of region ap-northeast-1 "
        "(a zone of ap-northeast-1, e.g. ap-northeast-1a)",
        stack=AWS + "  hive:subnets:\n    - {cidr: 10.1.1.0/24, name: a, available_zone: us-east-1a}\n",
    ),
    Case(
        "azure-reserved-user",
        f"{S}: hive:ssh_user: admin is a name azure reserves (another user name, e.g. hiveadmin)",
        stack=AWS.replace("provider: aws", "provider: azure").replace("ap-northeast-1", "japaneast")
        + "  hive:ssh_user: admin\n",
    ),
    Case(
        "image-name-of-another-provider",
        f"{S}: hive:image_name: Debian:debian-13:13-gen2:latest is an image name of azure, not aws "
        "(an AMI id ami-… or an AMI name pattern, e.g. debian-13-amd64-*)",
        stack=AWS + "  hive:image_name: Debian:debian-13:13-gen2:latest\n",
    ),
    Case(
        "drbd-url-not-https",
        f"{S}: hive:drbd_download_url: 'http://…' is not an https URL "
        "(https://…, e.g. https://pkg.linbit.com/downloads/drbd/9/drbd-{version}.tar.gz)",
        stack=AWS + "  hive:drbd_download_url: http://mirror.example/drbd-{version}.tar.gz\n",
    ),
    Case(
        "namespace-typo",
        f"{S}: hvie:admin_cidrs: unknown config namespace 'hvie' (did you mean hive:admin_cidrs? namespaces: "
        "hive, services, aws, gcp, azure-native, docker, command, tls, random, pulumi)",
        stack=AWS + "  hvie:admin_cidrs: [198.51.100.0/24]\n",
    ),
    Case(
        "plaintext-ssh-key",
        f"{S}: hive:ssh_private_key: is in plain text in the stack file "
        "(a secret: pulumi config set --secret hive:ssh_private_key < FILE, and delete the plain value)",
        stack=LOCAL.replace("provider: local", "provider: prepared")
        + "  hive:ip_address_list: [10.199.60.10, 10.199.60.11, 10.199.60.12]\n"
        + "  hive:ssh_private_key: not-a-secret-key-text\n",
    ),
    Case(
        "secret-that-cannot-stay-secret",
        f"{S}: hive:cidr: is a secret, but its value is used in plain resource names, inputs and outputs "
        "(set it without --secret; secrets: hive:ssh_private_key, hive:drbd_download_url, "
        "hive:offsite_backup_password, hive:offsite_backup_credentials, hive:alert_receivers)",
        stack=AWS.replace("hive:cidr: 10.1.0.0/16", "hive:cidr: {secure: AAABAHcidr}"),
        secrets={"hive:cidr": "10.1.0.0/16"},
    ),
    Case(
        "gcp-mtu-above-8896",
        f"{S}: hive:underlay_mtu: 9001 is invalid (an integer in 1300..8896)",
        stack=AWS.replace("provider: aws", "provider: gcp").replace("ap-northeast-1", "asia-northeast1")
        + "  gcp:project: example\n  hive:underlay_mtu: 9001\n",
    ),
    # -- hive-builder constructs that cannot act here (issue 14) -------------------------------------------
    Case(
        "hive-builder-vip-label",
        f"{Y}: services.web.labels.HIVE_VIP: a virtual IP that follows the task is not supported yet (publish the "
        "port instead (ports: with published_port, through the ingress on every hive, or mode: host with mode: "
        "global) and point clients or DNS at the hives' addresses)",
        stack=LOCAL,
        files={"site.yml": services("  web:\n    image: nginx:1.27\n    labels: {HIVE_VIP: 10.199.60.200}\n")},
    ),
    Case(
        "hive-builder-image-roles",
        f"{Y}: services.web.image.roles: Ansible roles cannot run here (image: {{context: <directory under "
        "services/>} with a Dockerfile whose RUN steps do what the roles did)",
        stack=LOCAL,
        files={"site.yml": services("  web:\n    image: {from: nginx:1.27, roles: [python-aptk]}\n")},
    ),
    Case(
        "constraint-on-a-mark-label",
        f"{Y}: services.web.placement.constraints[0]: no hive has the node label dnsmaster=true: no task could "
        "ever be placed (a label hive sets: node.labels.first_hive == true, node.labels.hives == true, "
        "node.labels.repository == true, node.labels.servers == true)",
        stack=LOCAL,
        files={
            "site.yml": services(
                "  web:\n    image: nginx:1.27\n    placement:\n      constraints: [node.labels.dnsmaster == true]\n"
            )
        },
    ),
    Case(
        "previous-allocations-value-twice",
        f"{S}: hive:previous_allocations.drbd_minors.b: 3 is also given to a (unique values)",
        stack=LOCAL + "  hive:previous_allocations:\n    drbd_minors: {a: 3, b: 3}\n",
    ),
    # -- valid: accepted, and one or two hives say what they cannot survive ------------------------------------
    Case("three-hives", "", stack=LOCAL),
    Case(
        "hive-builder-long-ports-and-previous-allocations",
        "",
        stack=LOCAL + "  hive:previous_allocations:\n    ports: {web80: 61007}\n    drbd_minors: {gone: 4}\n",
        files={
            "site.yml": services(
                "  web:\n    image: nginx:1.27\n    ports:\n      - {target_port: 80, "
                "protocol: tcp}\n      - {published_port: 8080, target_port: 8080}\n"
            )
        },
    ),
    Case(
        "one-hive",
        "",
        stack=LOCAL + "  hive:number_of_hosts: 1\n",
        warning="one hive: the swarm has a single manager and no host to fail over to — losing it stops every service",
    ),
    Case(
        "two-hives",
        "",
        stack=LOCAL + "  hive:number_of_hosts: 2\n",
        warning="two hives: the swarm's raft needs both managers for a majority, so after either hive fails the "
        "swarm cannot be managed (no updates, no rescheduling)",
    ),
    Case(
        "secret-drbd-url-and-ssh-key",
        "",
        stack=LOCAL.replace("provider: local", "provider: prepared")
        + "  hive:ip_address_list: [10.199.60.10, 10.199.60.11, 10.199.60.12]\n"
        + "  hive:ssh_private_key: {secure: AAABAKEY}\n"
        + "  hive:drbd_download_url: {secure: AAABAURL}\n",
        secrets={
            "hive:ssh_private_key": KEY,
            "hive:drbd_download_url": "https://user:s3cr3t-token@mirror.example/drbd-{version}.tar.gz",
        },
    ),
    # issue 14: services:<key> config values in service definitions
    Case(
        "service-config-unset",
        "services/site.yml: services.db.environment.DB: refers to services:db_name, which is not set "
        "(pulumi config set services:db_name VALUE)",
        files={"site.yml": services(DB + "    environment: {DB: '{{ config.db_name }}'}\n")},
    ),
    Case(
        "service-secret-substituted",
        "services/site.yml: services.db.command[0]: services:pw is a secret: it would be written into the service "
        "spec in plain text (list pw under the service's secrets: (the file /run/secrets/pw))",
        stack=AWS + "  services:pw: {secure: AAABAPW}\n",
        files={"site.yml": services(DB + "    command: ['--password={{ config.pw }}']\n")},
        secrets={"services:pw": "hunter2-pw"},
    ),
    Case(
        "service-secret-in-plain-text",
        f"{S}: services:pw: is in plain text, but services/site.yml gives it to service db as a secret "
        "(pulumi config set --secret services:pw VALUE, and delete the plain value)",
        stack=AWS + "  services:pw: hunter2-pw\n",
        files={"site.yml": services(DB + "    secrets: [pw]\n")},
    ),
    Case(
        "service-config-unused",
        f"{S}: services:db_pasword: no service refers to it (did you mean services:db_password? refer to it with "
        "{{ config.db_pasword }} or a service's secrets:, or delete it)",
        stack=AWS + "  services:db_password: {secure: AAABAPW}\n  services:db_pasword: {secure: AAABAPX}\n",
        files={"site.yml": services(DB + "    secrets: [db_password]\n")},
        secrets={"services:db_password": "pw-1", "services:db_pasword": "pw-2"},
    ),
    Case(
        "service-secret-and-substitution",
        "",
        stack=AWS + "  services:pw: {secure: AAABAPW}\n  services:db_name: pdns\n",
        files={"site.yml": services(DB + "    environment: {DB: '{{ config.db_name }}'}\n    secrets: [pw]\n")},
        secrets={"services:pw": "hunter2-pw"},
    ),
]
CASES[[c.id for c in CASES].index("cidr-is-docker-bridge")] = Case(
    "cidr-is-docker-bridge",
    f"{S}: hive:cidr: 172.17.0.0/16 overlaps 172.17.0.0/16, docker's docker0 bridge (bip) on every host "
    "(a network disjoint from docker's own; or move docker's networks with hive:internal_cidr)",
    stack=LOCAL.replace("10.199.60.0/24", "172.17.0.0/16").replace("  hive:internal_cidr: 10.254.0.0/16\n", ""),
)


def make_project(tmp_path: Path, case: Case) -> Path:
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("components", "hostsetup"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "Pulumi.staging.yaml").write_text(case.stack)
    directory = tmp_path / "services"
    directory.mkdir()
    for name, content in case.files.items():
        if content is None:
            (directory / name).mkdir()
        elif isinstance(content, bytes):
            (directory / name).write_bytes(content)
        else:
            (directory / name).write_text(content)
    for name in case.dirs:
        (directory / name).mkdir()
        (directory / name / "Dockerfile").write_text("FROM debian:13\n")
    return tmp_path


@pytest.fixture(params=CASES, ids=[c.id for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param


def test_offline_command(case: Case, tmp_path: Path) -> None:
    project = make_project(tmp_path, case)
    result = subprocess.run(
        [sys.executable, "-m", "components", "inventory", "--stack", "staging", "--project-dir", str(project)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if case.expected:
        assert (result.returncode, result.stderr.splitlines()) == (2, [case.expected])
        assert result.stdout == ""
    else:
        assert result.returncode == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
        assert warnings == ([f"warning: {case.warning}"] if case.warning else [])


def engine_config(project: Path, case: Case) -> tuple[dict[str, str], list[str]]:
    """The config the engine hands the program for these files ({} when the engine refuses the stack file)."""
    try:
        raw, secret = engine_view(project, "staging")
    except ConfigError:
        return {}, []
    return {key: case.secrets.get(key, value) for key, value in raw.items()}, sorted(secret)


def test_program_under_mocks(case: Case, tmp_path: Path) -> None:
    project = make_project(tmp_path, case)
    config, secret = engine_config(project, case)
    if case.expected:
        with pytest.raises(pulumi.RunError) as err:
            run_program(project, "staging", config, preview=True, mocks=HiveMocks(), secret_config=secret)
        assert str(err.value) == case.expected
        registered = [r for r in err.value.harness_run.resources if r.custom and r.kind == "register"]
        assert registered == []
    else:
        run = run_program(project, "staging", config, preview=False, mocks=HiveMocks(), secret_config=secret)
        assert run.warnings == ([case.warning] if case.warning else [])
