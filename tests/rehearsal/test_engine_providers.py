"""The rehearsal engine's emulation of pulumi-docker's ``Configure`` (``docker_configure``), on real sockets.

No lab: a closed TCP port on this machine stands for an unreachable daemon, this machine's Docker engine (when
there is one) for a reachable one.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path

import pytest

from components.swarm.docker_endpoint import PREVIEW_HOST
from tests.rehearsal.engine import (
    DEFAULT_DOCKER_HOST,
    SSH_HELPER_HOST,
    ProviderConfigureFailed,
    docker_configure,
    docker_ping,
)

TLS = {"caMaterial": "ca", "certMaterial": "cert", "keyMaterial": "key"}


class Asked:
    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.hosts: list[str] = []

    def __call__(self, host: str, tls: Mapping[str, str] | None) -> bool:
        self.hosts.append(host)
        return self.answer


@pytest.fixture
def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"


def test_ssh_endpoint_is_configured_without_any_connection() -> None:
    asked = Asked(False)
    done = docker_configure({"host": PREVIEW_HOST, "disableDockerDaemonCheck": True}, env={}, ping=asked)
    assert (done.daemon_host, done.pinged, asked.hosts) == (SSH_HELPER_HOST, (), [])


def test_tcp_host_is_pinged_even_with_the_daemon_check_disabled(closed_port: str) -> None:
    asked = Asked(False)
    with pytest.raises(ProviderConfigureFailed, match="failed to connect to any docker daemon"):
        docker_configure({"host": closed_port, "disableDockerDaemonCheck": True, **TLS}, env={}, ping=asked)
    assert asked.hosts == [closed_port], "an explicit host: no fallback to the user's sockets"


def test_real_ping_of_a_closed_port_fails(closed_port: str) -> None:
    assert docker_ping(closed_port, None, timeout=5) is False


@pytest.mark.skipif(not Path("/var/run/docker.sock").exists(), reason="no Docker engine on the default socket here")
def test_real_ping_of_this_machines_engine_answers() -> None:
    done = docker_configure({}, env={})
    assert (done.daemon_host, done.pinged) == (DEFAULT_DOCKER_HOST, (DEFAULT_DOCKER_HOST,))


def test_without_a_host_a_failed_ping_tries_docker_desktops_user_sockets() -> None:
    asked = Asked(False)
    with pytest.raises(ProviderConfigureFailed):
        docker_configure({}, env={}, ping=asked, home="/home/op")
    assert asked.hosts == [
        DEFAULT_DOCKER_HOST,
        "unix:///home/op/.docker/run/docker.sock",
        "unix:///home/op/.docker/desktop/docker.sock",
    ]


def test_docker_host_in_the_environment_overrides_the_tls_providers_host() -> None:
    asked = Asked(True)
    done = docker_configure(
        {"host": "tcp://10.0.0.5:2376", **TLS}, env={"DOCKER_HOST": "tcp://elsewhere:2376"}, ping=asked
    )
    assert done.daemon_host == "tcp://elsewhere:2376"  # client.FromEnv after WithHost (issue 9 defect 6)


def test_docker_host_in_the_environment_does_not_redirect_the_ssh_endpoint() -> None:
    asked = Asked(True)
    done = docker_configure({"host": PREVIEW_HOST}, env={"DOCKER_HOST": "tcp://elsewhere:2376"}, ping=asked)
    assert (done.daemon_host, asked.hosts) == (SSH_HELPER_HOST, [])


def test_partial_tls_material_is_refused() -> None:
    with pytest.raises(ProviderConfigureFailed, match="must all be specified"):
        docker_configure({"host": "tcp://10.0.0.5:2376", "caMaterial": "ca"}, env={}, ping=Asked(True))
