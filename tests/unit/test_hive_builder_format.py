"""hive-builder's own service format loads with its meaning; what cannot act here is a one-line error that says
what to write instead (reference §2, §5; the seed docs' pdns example)."""

from __future__ import annotations

import pytest

from components.inventory.allocation import Allocations
from components.inventory.errors import ConfigError
from components.inventory.services import ImageBuild, Port
from tests.unit.conftest import catalog_of

# The seed docs' powerdns service ("サービスのデプロイ"), its image given with the image attribute list of the
# docs' table (from, env, stop_signal, user, working_dir, entrypoint, command, privileged, pull_on, pull_from)
# plus expose (hive_services.py IMAGE_PARAMS); the Ansible templates become plain values.
POWERDNS = {
    "image": {
        "from": "alpine:3.19",
        "env": {"HTTPD_USER": "admin"},
        "stop_signal": "2",
        "user": "admin",
        "working_dir": "/home/admin",
        "entrypoint": "/docker_entrypoint.sh",
        "command": ["--api-port", "5000"],
        "privileged": False,
        "expose": ["53/udp", 8081],
        "pull_on": ["production"],
        "pull_from": "procube/certbot",
    },
    "environment": {"MYSQL_PASSWORD": "pw", "MYSQL_HOST": "pdnsdb", "MYSQL_DNSSEC": "yes"},
    "command": ["--api=yes", "--api-key=pw", "--webserver=yes", "--webserver-address=0.0.0.0"],
    "ports": ["53:53/tcp", "8081", "53:53/udp"],
}


def test_the_seed_pdns_example_loads():
    (service,) = catalog_of({"powerdns": POWERDNS}).services
    assert service.ports == (
        Port(53, "tcp", "ingress", 53),
        Port(8081, "tcp", "ingress", None),
        Port(53, "udp", "ingress", 53),
    )
    assert service.command == ("--api=yes", "--api-key=pw", "--webserver=yes", "--webserver-address=0.0.0.0")


def test_expose_goes_into_the_generated_dockerfile():
    (service,) = catalog_of({"powerdns": POWERDNS}).services
    assert isinstance(service.image, ImageBuild)
    assert service.image.generated_dockerfile() == (
        "FROM alpine:3.19\n"
        'ENV HTTPD_USER="admin"\n'
        "USER admin\n"
        "WORKDIR /home/admin\n"
        "STOPSIGNAL 2\n"
        "EXPOSE 53/udp 8081\n"
        'ENTRYPOINT ["/docker_entrypoint.sh"]\n'
        'CMD ["--api-port", "5000"]\n'
    )


def test_expose_as_one_string():
    image = {"from": "nginx:1.27", "expose": "80"}
    (service,) = catalog_of({"web": {"image": image}}).services
    assert isinstance(service.image, ImageBuild)
    assert service.image.expose == ("80",)


@pytest.mark.parametrize(
    ("long", "short"),
    [
        ({"published_port": 8080, "target_port": 80}, "8080:80"),
        ({"published_port": 8080, "target_port": 80, "protocol": "udp"}, "8080:80/udp"),
        ({"target_port": 8081, "protocol": "tcp"}, "8081"),
    ],
)
def test_long_port_syntax_is_the_short_syntax(long, short):
    (a,) = catalog_of({"web": {"image": "nginx", "ports": [long]}}).services
    (b,) = catalog_of({"web": {"image": "nginx", "ports": [short]}}).services
    assert a.ports == b.ports


def test_long_port_syntax_with_host_mode():
    ports = [{"published_port": 8080, "target_port": 80, "mode": "host"}]
    (service,) = catalog_of({"web": {"image": "nginx", "ports": ports}}).services
    assert service.ports == (Port(80, "tcp", "host", 8080),)


def test_auto_published_long_port_is_allocated_under_hive_builders_key(make_site):
    site = make_site({"pdnsadmin": {"image": "x", "ports": [{"target_port": 9191, "protocol": "tcp"}]}})
    assert site.allocations.ports == {"pdnsadmin9191": 61001}


BAD = [
    (
        {"image": {"from": "alpine", "roles": ["python-aptk", "powerdns"]}},
        "services.web.image.roles: Ansible roles cannot run here (image: {context: <directory under services/>} "
        "with a Dockerfile whose RUN steps do what the roles did)",
    ),
    (
        {"image": "x", "initialize_roles": ["powerdns-init"]},
        "services.web.initialize_roles: Ansible roles cannot run here (initialize: {command: <shell command>} or "
        "initialize: {script: <file under services/>}, run once inside the service's first running task)",
    ),
    (
        {"image": {"from": "centos:7", "privileged": True}},
        "services.web.image.privileged: swarm services cannot run privileged, and a Docker build needs no "
        "privileged container (drop it; give the service the capabilities it needs, e.g. cap_add: [SYS_ADMIN, "
        "NET_ADMIN])",
    ),
    (
        {"image": {"from": "centos:7", "standalone": True}},
        "services.web.image.standalone: is a service attribute here (standalone: true on the service itself)",
    ),
    (
        {"image": {"context": "web", "env": {"A": "1"}}},
        "services.web.image.env: only applies to the generated Dockerfile of a 'from' build (write ENV in the "
        "context's Dockerfile)",
    ),
    (
        {"image": {"context": "web", "expose": 80}},
        "services.web.image.expose: only applies to the generated Dockerfile of a 'from' build (write EXPOSE in "
        "the context's Dockerfile)",
    ),
    (
        {"image": {"from": "nginx", "args": {"A": "1"}}},
        "services.web.image.args: only applies to a context build (use 'context' with it, or drop it)",
    ),
    (
        {"image": {"from": "nginx", "expose": "http"}},
        "services.web.image.expose: http is invalid (a port or port/protocol, e.g. 80 or 53/udp (a list for several))",
    ),
    (
        {"image": "x", "ports": [{"published": 80, "published_port": 80, "target_port": 80}]},
        "services.web.ports[0].published_port: is set together with published (one of published and published_port)",
    ),
    (
        {"image": "x", "ports": [{"published_port": 80, "protocol": "tcp"}]},
        "services.web.ports[0].target_port: is required (the port inside the container)",
    ),
]
VIP = (
    "publish the port instead (ports: with published_port, through the ingress on every hive, or mode: host with "
    "mode: global) and point clients or DNS at the hives' addresses"
)
LABELS = [
    ("HIVE_VIP", "192.168.0.200", f"a virtual IP that follows the task is not supported yet ({VIP})"),
    ("HIVE_VIP1_V6", "fd00::1", f"a virtual IP that follows the task is not supported yet ({VIP})"),
    ("HIVE_ROUTER", "192.168.0.1", f"the router check of a virtual IP is not supported yet ({VIP})"),
    ("HIVE_DNAT_PORTS", "80,53/udp", f"DNAT from a virtual IP is not supported yet ({VIP})"),
    ("HIVE_ENABLE_VIP_SNAT", "true", f"SNAT to a virtual IP is not supported yet ({VIP})"),
    (
        "HIVE_MARK",
        "dnsmaster",
        "a node label that follows the task is not supported yet (place this service and the services that follow "
        "it with the same fixed constraint, e.g. node.hostname == s-hive0, or run them as one service)",
    ),
    ("HIVE_STANDALONE", "True", "is set by hive itself from standalone (standalone: true or false on the service)"),
]


@pytest.mark.parametrize(("definition", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_untranslatable_construct_says_what_to_write(definition, message):
    with pytest.raises(ConfigError) as err:
        catalog_of({"web": definition})
    assert str(err.value) == f"services/site.yml: {message}"


@pytest.mark.parametrize(("label", "value", "message"), LABELS, ids=[label for label, _, _ in LABELS])
def test_daemon_label_is_refused_not_ignored(label, value, message):
    with pytest.raises(ConfigError) as err:
        catalog_of({"web": {"image": "x", "labels": {label: value}}})
    assert str(err.value) == f"services/site.yml: services.web.labels.{label}: {message}"


def test_other_labels_are_kept():
    (service,) = catalog_of({"web": {"image": "x", "labels": {"published_fqdn": "www.example.com"}}}).services
    assert service.labels == {"published_fqdn": "www.example.com"}


def test_privileged_false_is_the_default_and_loads():
    (service,) = catalog_of({"web": {"image": {"from": "nginx", "privileged": False}}}).services
    assert isinstance(service.image, ImageBuild)


def test_constraint_on_a_label_no_hive_has_is_refused(make_site):
    placement = {"constraints": ["node.labels.dnsmaster == true"]}
    with pytest.raises(ConfigError) as err:
        make_site({"web": {"image": "x", "placement": placement}})
    assert str(err.value) == (
        "services/site.yml: services.web.placement.constraints[0]: no hive has the node label dnsmaster=true: no "
        "task could ever be placed (a label hive sets: node.labels.first_hive == true, node.labels.hives == true, "
        "node.labels.servers == true)"
    )


def test_constraint_on_a_label_hive_sets_is_accepted(make_site):
    placement = {"constraints": ["node.labels.hives == true", "node.labels.dnsmaster != true"]}
    site = make_site({"web": {"image": "x", "placement": placement}})
    assert site.catalog.services[0].placement is not None


def test_repository_label_only_when_the_repository_is_a_hive(make_site):
    placement = {"constraints": ["node.labels.repository == true"]}
    with pytest.raises(ConfigError, match="no hive has the node label repository=true"):
        make_site({"web": {"image": "x", "placement": placement}})
    site = make_site({"web": {"image": "x", "placement": placement}}, **{"hive:separate_repository": False,
                     "hive:ip_address_list": ["192.168.0.10", "192.168.0.11", "192.168.0.12"]})  # fmt: skip
    assert site.repository.is_hive


def test_previous_allocations_parse_refuses_a_value_given_twice():
    with pytest.raises(ConfigError) as err:
        Allocations.parse(
            {"ports": {"a80": 61001, "b80": 61001}}, "Pulumi.staging.yaml", ("hive:previous_allocations",)
        )
    assert str(err.value) == (
        "Pulumi.staging.yaml: hive:previous_allocations.ports.b80: 61001 is also given to a80 (unique values)"
    )
