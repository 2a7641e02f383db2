"""Read the swarm's manager join token with the program's own docker client identity (issue 15).

The docker APIs accept only the program's (and the backup agent's) client certificate, never a host's: a hive
can no longer read the token from another hive. So the program reads it — ``command.local.Command``
``swarm-token`` (components/provision/site.py) runs this file on the operator's machine, with the client key,
its certificate and the server CA on stdin — and every ``swarm-join`` gets it on stdin, a Pulumi secret end to
end (the command's stdout is a secret output and is never logged).

Usage:  python3 components/provision/join_token.py ADDRESS:PORT…   (stdin: client key, client cert, server CA)
Prints the manager join token of the first address that answers ``GET /swarm`` as a swarm manager; exits 1
with one line per address that did not. Standard library only: it runs under any python3.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import ssl
import sys
import threading

TIMEOUT = 10
TOKEN = re.compile(r"SWMTKN-[0-9A-Za-z-]+")
PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----\n?", re.S)


def _fd_path(data: str) -> str:
    """A /dev/fd path that reads ``data`` once (the key never touches a file)."""
    read, write = os.pipe()

    def feed() -> None:
        with os.fdopen(write, "w") as pipe:
            pipe.write(data)

    threading.Thread(target=feed, daemon=True).start()
    return f"/dev/fd/{read}"


def context(bundle: str) -> ssl.SSLContext:
    blocks = [m.group(0) for m in PEM.finditer(bundle)]
    if len(blocks) != 3:
        raise SystemExit(f"expected 3 PEM blocks on stdin (client key, client certificate, CA), got {len(blocks)}")
    key, cert, ca = blocks
    ctx = ssl.create_default_context(cadata=ca)
    ctx.load_cert_chain(_fd_path(cert), _fd_path(key))
    return ctx


def manager_token(ctx: ssl.SSLContext, host: str, port: int) -> str:
    connection = http.client.HTTPSConnection(host, port, timeout=TIMEOUT, context=ctx)
    try:
        connection.request("GET", "/swarm")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}")
    token = json.loads(body).get("JoinTokens", {}).get("Manager", "")
    if not TOKEN.fullmatch(token or ""):
        raise RuntimeError("no manager join token in the answer")
    return token


def main(argv: list[str]) -> int:
    ctx = context(sys.stdin.read())
    reasons = []
    for target in argv:
        host, _, port = target.rpartition(":")
        try:
            token = manager_token(ctx, host, int(port))
        except (OSError, ValueError, RuntimeError, ssl.SSLError) as exc:
            reasons.append(f"{target}: {exc}")
            continue
        sys.stdout.write(token + "\n")
        return 0
    for reason in reasons or ["no address given"]:
        print(f"swarm-token: {reason}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
