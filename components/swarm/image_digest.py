"""Tag images run by digest: which services resolve a tag at ``up``, and what they run. Pure.

A service whose image is a tag (``mariadb:11.4``, a tag in the site registry, a ``pull_from`` image) runs
``<tag>@sha256:…`` — the digest the tag points to at the last ``up`` —, so the service's image input in the
plan names exactly what runs, and a tag that moved changes that input and rolls the service.

The digests come from the first hive (image-digest.sh through one ``command.remote.Command``,
``image-digests``, for every tag of the site; its ``stdout``): its
daemon reaches the site registry (port 5000 is open to the site's hosts only, hostsetup/hive-firewall) with
the site CA and root's registry login, which the machine running Pulumi has neither of — so the provider's
``docker.get_registry_image`` (kreuzwerker data_source_docker_registry_image.go: an HTTP HEAD from the
provider process itself, system CAs, l. 43–69 and resource_docker_registry_image_funcs.go l. 313–323) cannot
resolve a tag of the site registry.

When it runs — pulumi-command v1.2.1 (provider/pkg/provider/remote/commandController.go):

* ``Create`` and ``Update`` do nothing in a preview (l. 44–46, l. 71–73: the old outputs are kept); a changed
  input other than ``triggers`` is an Update, which runs ``create`` when no ``update`` is given (l. 76–80).
* So the command line carries ``HIVE_RUN=<time of this up>`` (:func:`run_marker`): every ``up`` changes it and
  the pulls run again; a preview puts back the marker the last ``up`` recorded (stack output ``images``, read
  through the program's StackReference to itself), so the command is unchanged, nothing runs, no host is
  contacted, and each service keeps the digest of the last ``up`` (the command's stdout in the state).
* One step for all tags, not one per service: each resource costs the program's evaluation (issue 13), and
  one pull per distinct tag is what a hive needs.
"""

from __future__ import annotations

import re
from typing import Any

from components.inventory.services import Service
from components.inventory.site import Site

OUTPUT = "images"  # stack output: service → {image, digest, run}
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def tag_image(site: Site, service: Service) -> str | None:
    """The tag ``service`` runs on this stage, to resolve at ``up``; None for an image built here (it runs the
    pushed digest) or a reference already pinned by ``@sha256:``."""
    if service.builds_image(site.stage.stage):
        return None
    reference = service.image_reference(site.stage.stage, site.repository.fqdn)
    return None if "@" in reference else reference


def run_marker(previous: Any, preview: bool, now: str) -> str:
    """``HIVE_RUN`` of the digest command: ``now`` in an ``up``; in a preview the marker the last ``up``
    recorded (every entry of the ``images`` output has it; ``now`` when there is none: the step is new)."""
    if not preview and now:
        return now
    entries = previous.values() if isinstance(previous, dict) else ()
    runs = [e["run"] for e in entries if isinstance(e, dict) and isinstance(e.get("run"), str)]
    return runs[0] if runs else now


def digests(stdout: str) -> dict[str, str]:
    """image-digest.sh's stdout — one line ``<tag> sha256:<64 hex>`` per tag — as tag → digest; anything else
    fails the ``up``."""
    found = {}
    for line in stdout.splitlines():
        words = line.split()
        if not words:
            continue
        if len(words) != 2 or not DIGEST.fullmatch(words[1]):
            raise ValueError(f"image-digest.sh printed {line!r}, not '<tag> sha256:<64 hex>'")
        found[words[0]] = words[1]
    return found


def pinned(image: str, stdout: str | None, preview: bool) -> str:
    """``<image>@sha256:…`` from the step's stdout. The tag as written when the step did not run: no stdout at
    all (an ``up --target`` that leaves it out creates nothing, and its outputs are its inputs), or a preview
    (pulumi-command keeps the last ``up``'s stdout, which lacks a tag added since). In an ``up`` a tag the
    step did not print fails."""
    if stdout is None:
        return image
    digest = digests(stdout).get(image)
    if digest is None:
        if preview:
            return image
        raise ValueError(f"image-digest.sh printed no digest for {image}: {stdout.strip()!r}")
    return f"{image}@{digest}"


def record(image: str, reference: str, run: str) -> dict[str, str]:
    """One entry of the ``images`` output."""
    return {"image": image, "digest": reference.rpartition("@")[2] if "@" in reference else "", "run": run}
