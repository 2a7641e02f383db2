"""Command lines the swarm layer runs on hosts over SSH. Pure.

The DRBD steps follow the hostsetup contract (hostsetup/README.md): ``sudo env HIVE_…=… bash
~/.hive/hostsetup/<step>.sh``, the environment sorted by name so the text is stable, root without sudo.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from components.provision.steps import remote_path

DRBD_VOLUME = "drbd-volume.sh"
DRBD_GROWFS = "drbd-growfs.sh"
SHIPPED_SCRIPTS = (DRBD_VOLUME, DRBD_GROWFS)
IMAGES = "images.sh"  # hostsetup/images.sh: pull a hive's image set before the services, prune after


def images_command(user: str, mode: str, refs: Sequence[str]) -> str:
    """images.sh in ``pull`` or ``prune`` mode for the image references ``refs`` (sorted, distinct)."""
    if mode not in ("pull", "prune"):
        raise ValueError(f"{IMAGES}: mode {mode!r} is not pull or prune")
    return script_command(user, IMAGES, {"HIVE_IMAGES_MODE": mode, "HIVE_IMAGES": " ".join(sorted(set(refs)))})


def images_prune_of(pull: str) -> str:
    """The prune command for the set the pull command ``pull`` (:func:`images_command`) names: the same text in
    ``prune`` mode."""
    mode = " HIVE_IMAGES_MODE=pull "
    if pull.count(mode) != 1:
        raise ValueError(f"{IMAGES}: not a pull command: {pull!r}")
    return pull.replace(mode, " HIVE_IMAGES_MODE=prune ")


def _sudo(user: str) -> list[str]:
    return [] if user == "root" else ["sudo"]


def script_command(user: str, script: str, env: Mapping[str, str]) -> str:
    words = _sudo(user)
    if env:
        words.append("env")
        for name in sorted(env):
            if not name.isidentifier():
                raise ValueError(f"{script}: {name!r} is no environment variable name")
            words.append(f"{name}={shlex.quote(env[name])}")
    words += ["bash", shlex.quote(remote_path(user, script))]
    return " ".join(words)


def conntrack_command(user: str, ports: Sequence[int]) -> str:
    """Delete the conntrack entries of UDP ``ports`` (seed 000_faq: a UDP service that receives nothing).

    After a UDP service is (re)deployed, entries created while no task listened keep steering the clients'
    packets to nowhere until they time out. ``conntrack -D`` exits 1 when there was nothing to delete
    ("0 flow entries have been deleted"), which is fine.
    """
    if not ports:
        raise ValueError("no UDP ports")
    sudo = " ".join(_sudo(user))
    prefix = f"{sudo} " if sudo else ""
    listed = " ".join(str(int(p)) for p in sorted(set(ports)))
    return (
        f"for port in {listed}; do "
        f'out=$({prefix}conntrack -D -p udp --dport "$port" 2>&1) || '
        'case $out in *"0 flow entries"*) ;; *) printf "%s\\n" "$out" >&2; exit 1 ;; esac; '
        'printf "udp/%s: %s\\n" "$port" "${out##*: }"; '
        "done"
    )


CONVERGE_SCRIPT = "service-converge.sh"  # components/swarm/, fed on stdin (not shipped to the host)
CONVERGE_TIMEOUT = 180  # seconds: a service's tasks must all run its spec within this
CONVERGE_DELAY = 7  # seconds the tasks must keep running (not crash-looping)


def converge_command(
    user: str, service: str, image: str, timeout: int = CONVERGE_TIMEOUT, delay: int = CONVERGE_DELAY
) -> str:
    """Run service-converge.sh from stdin on the first hive: exits non-zero (and so fails ``pulumi up``) when
    ``service``'s update was rolled back or paused, its spec does not run ``image``, or its tasks do not all
    run its current spec within ``timeout`` seconds."""
    words = _sudo(user)
    words += [
        "env",
        f"HIVE_DELAY={int(delay)}",
        f"HIVE_IMAGE={shlex.quote(image)}",
        f"HIVE_SERVICE={shlex.quote(service)}",
        f"HIVE_TIMEOUT={int(timeout)}",
        "bash",
        "-s",
    ]
    return " ".join(words)


IMAGE_DIGEST_SCRIPT = "image-digest.sh"  # components/swarm/, fed on stdin (not shipped to the host)


def image_digest_command(user: str, image: str, run: str) -> str:
    """Run image-digest.sh from stdin: pull ``image`` and print its digest; ``run`` changes on every up."""
    words = _sudo(user)
    words += ["env", f"HIVE_IMAGE={shlex.quote(image)}", f"HIVE_RUN={shlex.quote(run)}", "bash", "-s"]
    return " ".join(words)
