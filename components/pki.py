"""The stage's PKI (pulumi-tls): two CAs, so that a host's identity is not a client identity (issue 15).

* the server CA (``ca.<name>``) signs one certificate per host, **server auth only**: dockerd's and the
  registry's TLS identity; every client (the program's docker provider, the docker CLI, the backup agent,
  the hosts' docker/curl for the registry) verifies servers against it;
* the client CA (``client-ca.<name>``) signs only the program's client certificate and, where some service has
  backup_scripts, the repository's backup agent's (``backup.<name>``). It is every dockerd's ``tlscacert``
  (hostsetup/docker.sh): no host key — not even the repository's, which the registry group can read — is
  accepted by any docker API.

Every private key is a secret in state and in what this component exposes.

Key type: ECDSA P-384 throughout (hive-builder used RSA-4096). P-384 is at least as strong (≈192-bit vs
≈140-bit security), its keys are generated in milliseconds instead of seconds (the tls provider — and the
rehearsal, which makes real keys — generates one per host), and its handshakes are smaller. Every party that
uses these certificates supports it: dockerd, the docker CLI, Debian's docker-registry and pulumi-docker are
Go (crypto/tls), curl/openssl and Python's ssl module are OpenSSL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

from components.backup.plan import needs_agent
from components.infra.types import ProvisionedHost
from components.inventory.site import Site

ALGORITHM = "ECDSA"
ECDSA_CURVE = "P384"
HOURS_PER_YEAR = 24 * 365
CA_VALIDITY_HOURS = 10 * HOURS_PER_YEAR
CA_EARLY_RENEWAL_HOURS = HOURS_PER_YEAR  # renewed by the first `pulumi up` in its last year
CERT_VALIDITY_HOURS = 5 * HOURS_PER_YEAR
CERT_EARLY_RENEWAL_HOURS = HOURS_PER_YEAR // 2  # renewed by the first `pulumi up` in its last half year
CA_USES = ["cert_signing", "crl_signing", "key_encipherment", "digital_signature"]
HOST_USES = ["server_auth", "digital_signature", "key_encipherment"]  # no client_auth: not a docker client
CLIENT_USES = ["client_auth", "digital_signature", "key_encipherment"]
ORGANIZATION = "hive"
LOOPBACK = "127.0.0.1"
KEY_SECRETS = ["privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"]


@dataclass(frozen=True)
class PkiArgs:
    site: Site
    hosts: Sequence[ProvisionedHost]


@dataclass(frozen=True)
class HostTls:
    """One host's key pair: the key (secret) and its certificate signed by the stage CA."""

    key_pem: pulumi.Output[str]
    cert_pem: pulumi.Output[str]


def join_pems(*pems: pulumi.Input[str]) -> pulumi.Output[str]:
    """PEM blocks concatenated in order, each newline-terminated; secret (it usually carries a key)."""

    def join(values: list[str]) -> str:
        return "".join(v if v.endswith("\n") else v + "\n" for v in values)

    return pulumi.Output.secret(pulumi.Output.all(*pems).apply(join))


class Pki(pulumi.ComponentResource):
    """CA, host certificates (``hosts[fqdn]``) and the program's client certificate, for one stage."""

    ca_cert_pem: pulumi.Output[str]  # the server CA: what clients verify hosts with
    client_ca_cert_pem: pulumi.Output[str]  # the client CA: what dockerd verifies clients with
    hosts: dict[str, HostTls]
    client_key_pem: pulumi.Output[str]
    client_cert_pem: pulumi.Output[str]
    backup_agent: HostTls | None

    def __init__(self, name: str, args: PkiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hive:pki:Pki", name, None, opts)
        stage = args.site.stage
        child = pulumi.ResourceOptions(parent=self)

        def authority(prefix: str, common_name: str) -> tuple[tls.SelfSignedCert, pulumi.Output[str]]:
            key = self._key(f"{prefix}-key")
            cert = tls.SelfSignedCert(
                prefix,
                private_key_pem=key.private_key_pem,
                is_ca_certificate=True,
                set_subject_key_id=True,
                subject=tls.SelfSignedCertSubjectArgs(
                    common_name=common_name, organization=ORGANIZATION, organizational_unit=stage.stage
                ),
                validity_period_hours=CA_VALIDITY_HOURS,
                early_renewal_hours=CA_EARLY_RENEWAL_HOURS,
                allowed_uses=CA_USES,
                opts=child,
            )
            return cert, pulumi.Output.secret(key.private_key_pem)

        server_ca = authority(f"{name}-ca", f"ca.{stage.name}")
        client_ca = authority(f"{name}-client-ca", f"client-ca.{stage.name}")
        self.ca_cert_pem = server_ca[0].cert_pem
        self.client_ca_cert_pem = client_ca[0].cert_pem

        def sign(
            prefix: str,
            subject: tls.CertRequestSubjectArgs,
            uses: list[str],
            ca: tuple[tls.SelfSignedCert, pulumi.Output[str]],
            dns_names: list[str] | None = None,
            ip_addresses: list[pulumi.Input[str]] | None = None,
        ) -> HostTls:
            key = self._key(f"{prefix}-key")
            request = tls.CertRequest(
                f"{prefix}-csr",
                private_key_pem=key.private_key_pem,
                subject=subject,
                dns_names=dns_names,
                ip_addresses=ip_addresses,
                opts=child,
            )
            cert = tls.LocallySignedCert(
                f"{prefix}-cert",
                cert_request_pem=request.cert_request_pem,
                ca_private_key_pem=ca[1],
                ca_cert_pem=ca[0].cert_pem,
                validity_period_hours=CERT_VALIDITY_HOURS,
                early_renewal_hours=CERT_EARLY_RENEWAL_HOURS,
                set_subject_key_id=True,
                allowed_uses=uses,
                opts=child,
            )
            return HostTls(key_pem=pulumi.Output.secret(key.private_key_pem), cert_pem=cert.cert_pem)

        self.hosts = {}
        for host in args.hosts:
            spec = host.spec
            addresses: list[pulumi.Input[str]] = [spec.private_ip]
            if host.public_ip is not None:
                addresses.append(host.public_ip)
            addresses.append(LOOPBACK)
            self.hosts[spec.fqdn] = sign(
                f"{name}-{spec.hostname}",
                tls.CertRequestSubjectArgs(common_name=spec.fqdn, organization=ORGANIZATION),
                HOST_USES,
                server_ca,
                dns_names=[spec.fqdn, spec.hostname],
                ip_addresses=addresses,
            )

        client = sign(
            f"{name}-client",
            tls.CertRequestSubjectArgs(common_name=f"client.{stage.name}", organization=ORGANIZATION),
            CLIENT_USES,
            client_ca,
        )
        self.client_key_pem = client.key_pem
        self.client_cert_pem = client.cert_pem
        # The repository's backup agent reaches the hives' docker API with an identity of its own (never the
        # operator's, never a host's), made only where some service has backup_scripts.
        self.backup_agent = (
            sign(
                f"{name}-backup-agent",
                tls.CertRequestSubjectArgs(common_name=f"backup.{stage.name}", organization=ORGANIZATION),
                CLIENT_USES,
                client_ca,
            )
            if needs_agent(args.site)
            else None
        )
        self.register_outputs(
            {
                "ca_cert_pem": self.ca_cert_pem,
                "client_ca_cert_pem": self.client_ca_cert_pem,
                "client_cert_pem": self.client_cert_pem,
                "client_key_pem": self.client_key_pem,
            }
        )

    def _key(self, name: str) -> tls.PrivateKey:
        return tls.PrivateKey(
            name,
            algorithm=ALGORITHM,
            ecdsa_curve=ECDSA_CURVE,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=KEY_SECRETS),
        )

    def backup_bundle(self) -> pulumi.Output[str]:
        """The backup agent's key, its client certificate and the server CA certificate (secret)."""
        if self.backup_agent is None:
            raise ValueError("this site has no backup_scripts: no backup agent identity")
        return join_pems(self.backup_agent.key_pem, self.backup_agent.cert_pem, self.ca_cert_pem)

    def docker_bundle(self, fqdn: str) -> pulumi.Output[str]:
        """What the docker step reads on stdin: host key, host certificate, server CA, client CA (secret)."""
        host = self.hosts[fqdn]
        return join_pems(host.key_pem, host.cert_pem, self.ca_cert_pem, self.client_ca_cert_pem)

    def client_bundle(self) -> pulumi.Output[str]:
        """The program's own client key, its certificate and the server CA (secret): the join token reader's."""
        return join_pems(self.client_key_pem, self.client_cert_pem, self.ca_cert_pem)
