"""Every SSH connection of the program pins the host's SSH host key (issue 15: hosts are who they claim).

pulumi-command 1.2.1 checks a connection's ``hostKey`` (pulumi/pulumi-command v1.2.1,
``provider/pkg/provider/remote/connection.go`` lines 51 and 85–105): the authorized_keys line is parsed with
``ssh.ParseAuthorizedKey``, the callback is ``ssh.FixedHostKey(key)`` and ``HostKeyAlgorithms`` is
``[key.Type()]``; without ``hostKey`` it is ``ssh.InsecureIgnoreHostKey()`` — any machine answering at the
address would get the TLS keys, the registry password and the site's key material. ``FixedHostKey``
(golang/crypto v0.48.0 ``ssh/client.go`` 254–272) refuses any other key with ``ssh: host key mismatch``,
wrapped by ``ssh.Dial`` as ``ssh: handshake failed: …`` (client.go 85); the dial is retried up to
``dialErrorLimit`` times like any dial error (connection.go 150–187) and then fails the resource with
``after N failed attempts: ssh: handshake failed: ssh: host key mismatch``.

Where the pinned key comes from:

* clouds: the program generates the host key (``tls.PrivateKey`` ED25519, secret) and installs it as the
  machine's first boot identity (cloud-init ``ssh_keys`` on AWS and Azure, a metadata startup script on GCP);
* local: the program generates it and the provider uploads it into the container at creation (secret);
* prepared: ``hive:host_keys`` (the operator's), else trust on first use — one ``command.local.Command`` runs
  ``ssh-keyscan`` once; its stdout (the key) is an output kept in the state and returned unchanged on every
  later ``up`` (the provider runs nothing while the inputs are the same; ``triggers`` are replaceOnChanges,
  pulumi-command ``provider/pkg/provider/common/inputs.go`` line 10): the key is scanned again only when the
  host is replaced (``hive:host_generation``) or its address changes.

Only ``ssh-ed25519`` and ECDSA keys are pinned: with ``HostKeyAlgorithms = ["ssh-rsa"]`` x/crypto offers the
SHA-1 signature only (golang/crypto ``ssh/handshake.go`` 165–168, 546), which OpenSSH ≥ 8.8 refuses.
"""

from __future__ import annotations

import shlex

import pulumi
import pulumi_tls as tls
from pulumi_command import local

ALGORITHM = "ED25519"
KEY_TYPE = "ssh-ed25519"
SECRET_OUTPUTS = ["privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"]
KEYSCAN_TIMEOUT = 10  # seconds per ssh-keyscan try
KEYSCAN_TRIES = 30  # a prepared host that is rebooting answers within a few minutes


def keyscan_command(address: str, port: int) -> str:
    """The prepared hosts' trust on first use: the host's ``ssh-ed25519`` key as ``<type> <base64>`` on stdout,
    or a failure that says why. Retries while the host does not answer (it may be rebooting)."""
    target = f"-p {int(port)} {shlex.quote(address)}"
    return (
        f"for try in $(seq {KEYSCAN_TRIES}); do "
        f"key=$(ssh-keyscan -T {KEYSCAN_TIMEOUT} -t ed25519 {target} 2>/dev/null | "
        "awk '$2 == \"ssh-ed25519\" {print $2, $3; exit}'); "
        '[ -n "$key" ] && { printf "%s\\n" "$key"; exit 0; }; sleep 2; done; '
        f'echo "ssh-keyscan: no ssh-ed25519 host key from {address}:{int(port)}" >&2; exit 1'
    )


def generated_host_key(name: str, parent: pulumi.Resource) -> tls.PrivateKey:
    """A host's SSH host key made by the program (secret in state)."""
    return tls.PrivateKey(
        name,
        algorithm=ALGORITHM,
        opts=pulumi.ResourceOptions(parent=parent, additional_secret_outputs=SECRET_OUTPUTS),
    )


def public_line(key: tls.PrivateKey) -> pulumi.Output[str]:
    """The pinned form of a generated key: ``ssh-ed25519 <base64>`` (pulumi-tls ends it with a newline)."""
    return key.public_key_openssh.apply(lambda text: text.strip())


def first_use_key(
    name: str, address: str, port: int, identity: pulumi.Input[str], parent: pulumi.Resource
) -> pulumi.Output[str]:
    """Trust on first use: ``ssh-keyscan`` once per machine (``identity`` in ``triggers``), the key kept in the
    state as the command's stdout."""
    scan = local.Command(
        name,
        create=keyscan_command(address, port),
        triggers=[identity],
        logging=local.Logging.STDERR,
        add_previous_output_in_env=False,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return scan.stdout  # the command prints exactly ``ssh-ed25519 <base64>`` (the provider trims the newline)
