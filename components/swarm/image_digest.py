"""Tag images run by digest: which services resolve a tag at ``up``, and what they run. Pure.

A service whose image is a tag (``mariadb:11.4``, a tag in the site registry, a ``pull_from`` image) runs
``<tag>@sha256:…`` — the digest the tag points to at the last ``up`` —, so the service's image input in the
plan names exactly what runs, and a tag that moved changes that input and rolls the service.

The digest comes from the first hive (image-digest.sh through ``command.remote.Command``, its ``stdout``): its
daemon reaches the site registry (port 5000 is open to the site's hosts only, hostsetup/hive-firewall) with
the site CA and root's registry login, which the machine running Pulumi has neither of — so the provider's
``docker.get_registry_image`` (kreuzwerker data_source_docker_registry_image.go: an HTTP HEAD from the
provider process itself, system CAs, l. 43–69 and resource_docker_registry_image_funcs.go l. 313–323) cannot
resolve a tag of the site registry.

When it runs — pulumi-command v1.2.1 (provider/pkg/provider/remote/commandController.go):

* ``Create`` and ``Update`` do nothing in a preview (l. 44–46, l. 71–73: the old outputs are kept); a changed
  input other than ``triggers`` is an Update, which runs ``create`` when no ``update`` is given (l. 76–80).
* So the command line carries ``HIVE_RUN=<time of this up>`` (:func:`run_marker`): every ``up`` changes it and
  the pull runs again; a preview puts back the marker the last ``up`` recorded (stack output ``images``, read
  through the program's StackReference to itself), so the command is unchanged, nothing runs, no host is
  contacted, and the service keeps the digest of the last ``up`` (the command's stdout in the state).
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


def run_marker(previous: Any, service: str, image: str, preview: bool, now: str) -> str:
    """``HIVE_RUN`` of the digest command: ``now`` in an ``up``; in a preview the marker the last ``up``
    recorded for the same image (``now`` when there is none: the command is new or changed anyway)."""
    if not preview and now:
        return now
    entry = previous.get(service) if isinstance(previous, dict) else None
    if isinstance(entry, dict) and entry.get("image") == image and isinstance(entry.get("run"), str):
        return entry["run"]
    return now


def pinned(image: str, stdout: str | None) -> str:
    """``<image>@sha256:…`` from the command's stdout (its last line); anything else fails the ``up``. No stdout
    at all means the step did not run (an ``up --target`` that leaves it out creates nothing, and its outputs
    are its inputs): the tag as written."""
    if stdout is None:
        return image
    lines = stdout.strip().splitlines()
    digest = lines[-1].strip() if lines else ""
    if not DIGEST.fullmatch(digest):
        raise ValueError(f"image-digest.sh for {image} printed {stdout.strip()!r}, not sha256:<64 hex>")
    return f"{image}@{digest}"


def record(image: str, reference: str, run: str) -> dict[str, str]:
    """One entry of the ``images`` output."""
    return {"image": image, "digest": reference.rpartition("@")[2] if "@" in reference else "", "run": run}
