"""Docker secrets of the services (``secrets:`` in services/*.yml): names and data. Pure.

How a secret config value reaches a task, and how a new value rotates it:

* The value is the Pulumi secret ``services:<key>`` (``pulumi.Config("services").require_secret``) or, for an
  unset key with ``generate``, a ``random.RandomPassword`` kept in the state; it stays a Pulumi secret and
  reaches the swarm only as the ``data`` of a ``docker.Secret`` (base64, kreuzwerker decodes it with
  ``base64.StdEncoding``: ``internal/provider/resource_docker_secret.go`` v4.5.0 l. 96, validated by
  ``validateStringIsBase64Encoded``, validators.go l. 145–160). The bridge marks ``data`` secret (``Sensitive:
  true``, l. 34). The service spec holds only the secret's id, name and file name.
* Swarm secrets are immutable and their names unique: ``name`` and ``data`` are ``ForceNew`` (l. 23–36), there
  is no Update, Create sends ``SecretCreate`` with that name (l. 98–110). A new value therefore replaces the
  resource; the engine replaces create-before-delete unless told otherwise (pulumi/pulumi
  ``pkg/resource/deploy/step_generator.go`` at 1b5949891b l. 2159–2165: ``NewCreateReplacementStep`` first, "the
  delete step is generated 'later' on, after all creates/updates finish"), so the new secret must exist next
  to the old one, which the service still uses (swarm refuses to remove a secret in use). Hence the name
  carries a suffix derived from the content: the new version gets a new name, the service is updated to it,
  and the old version is deleted last. ``delete_before_replace`` would be wrong here: the old secret cannot be
  removed while the service refers to it.
* The suffix is an HMAC-SHA256 of (service, file, value) keyed with the site registry's password — a random
  secret of this stack —, not a bare hash: a name is plain text (``docker secret ls``, the plan, the state),
  and a bare hash of a short password could be tested offline against guesses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SUFFIX_LENGTH = 12  # hex characters of the HMAC in a secret's name
NAME_LIMIT = 64  # swarmkit: secret names are at most 64 characters


def secret_suffix(key: str, service: str, target: str, value: str) -> str:
    """The content-derived part of a secret's name (HMAC-SHA256 keyed with the stack's ``key``)."""
    message = "\0".join((service, target, value)).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:SUFFIX_LENGTH]


def secret_name(service: str, target: str, suffix: str) -> str:
    """``<service>-<file>-<suffix>``, cut to swarm's 64 characters (the suffix is kept whole)."""
    stem = f"{service}-{target}"[: NAME_LIMIT - SUFFIX_LENGTH - 1].rstrip("-_.")
    return f"{stem}-{suffix}"


def secret_data(value: str) -> str:
    """The ``data`` input: the value, base64 (standard alphabet, as the provider decodes it)."""
    return base64.b64encode(value.encode()).decode()
