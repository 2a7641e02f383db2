"""SSH host keys as the program pins them: ``<type> <base64>`` (pure; components/infra/host_keys.py uses it).

Only ``ssh-ed25519`` and ECDSA keys: pulumi-command pins ``HostKeyAlgorithms = [key.Type()]``, and for an RSA key
that is ``ssh-rsa`` — the SHA-1 signature, which OpenSSH >= 8.8 no longer offers (golang/crypto v0.48.0
``ssh/handshake.go`` 165-168, 546): such a pin could never connect.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct

PINNABLE_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")
_LINE = re.compile(r"^(?P<type>[a-z0-9-]+) (?P<blob>[A-Za-z0-9+/]+={0,2})(?: .*)?$")


class BadHostKey(ValueError):
    """Not an authorized_keys line of a type the program pins."""


def parse_host_key(text: str) -> str:
    """``<type> <base64>`` of an authorized_keys/known_hosts style line (a comment is dropped); BadHostKey
    when it is not one, or the blob's own type differs from the named one, or the type cannot be pinned."""
    match = _LINE.match(text.strip())
    if not match:
        raise BadHostKey("is not an SSH public key line '<type> <base64>'")
    key_type, blob = match["type"], match["blob"]
    if key_type not in PINNABLE_TYPES:
        raise BadHostKey(f"key type {key_type} cannot be pinned")
    try:
        raw = base64.b64decode(blob, validate=True)
        (length,) = struct.unpack(">I", raw[:4])
        inner = raw[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError) as exc:
        raise BadHostKey("has a key that is not valid base64 of an SSH key") from exc
    if inner != key_type:
        raise BadHostKey(f"names {key_type} but holds a {inner or 'malformed'} key")
    return f"{key_type} {blob}"
