"""Command lines the swarm layer runs on hosts over SSH. Pure.

The DRBD steps follow the hostsetup contract (hostsetup/README.md): ``sudo env HIVE_…=… bash
~/.hive/hostsetup/<step>.sh``, the environment sorted by name so the text is stable, root without sudo.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from components.provision.steps import DRBD_GROWFS_SCRIPT, DRBD_VOLUME_SCRIPT, IMAGES_SCRIPT, remote_path

# the hostsetup scripts the swarm layer runs on hives (in each hive's bundle: provision steps.swarm_files)
DRBD_VOLUME = DRBD_VOLUME_SCRIPT
DRBD_GROWFS = DRBD_GROWFS_SCRIPT
IMAGES = IMAGES_SCRIPT


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


def script_with_lines(script: str, lines: Sequence[str]) -> str:
    """stdin for a script the program runs with ``bash -s`` that reads its input from stdin after its own text
    (service-converge.sh, image-digest.sh: their last line is ``main "$@"; exit $?``, so bash has read exactly
    the script when ``main`` reads the rest). The lists go there, not on the command line: a whole site's
    services would pass the kernel's 128 KiB limit of one argument (``sh -c '<command>'``, MAX_ARG_STRLEN)."""
    if not script.rstrip("\n").endswith('main "$@"; exit $?'):
        raise ValueError("the script does not end with its main call")
    for line in lines:
        if "\n" in line or not line.strip():
            raise ValueError(f"not one line: {line!r}")
    return script.rstrip("\n") + "\n" + "".join(f"{line}\n" for line in lines)


CONVERGE_SCRIPT = "service-converge.sh"  # components/swarm/, fed on stdin (not shipped to the host)
CONVERGE_TIMEOUT = 180  # seconds: the checked services' tasks must all run their specs within this
CONVERGE_DELAY = 7  # seconds the tasks must keep running (not crash-looping)


def converge_command(user: str, timeout: int = CONVERGE_TIMEOUT, delay: int = CONVERGE_DELAY) -> str:
    """Run service-converge.sh from stdin on the first hive (the services follow it there,
    :func:`converge_line`): exits non-zero (and so fails ``pulumi up``) when a checked service's update was
    rolled back or paused, its spec does not run its image, or its tasks do not all run its current spec
    within ``timeout`` seconds."""
    return " ".join([*_sudo(user), "env", f"HIVE_DELAY={int(delay)}", f"HIVE_TIMEOUT={int(timeout)}", "bash", "-s"])


def converge_line(service: str, image: str, key: str) -> str:
    """One service for service-converge.sh: it is checked unless ``key`` is the one it last converged with."""
    for word in (service, image, key):
        if not word or any(c.isspace() for c in word):
            raise ValueError(f"{CONVERGE_SCRIPT}: {word!r} is not one word")
    return f"{service} {image} {key}"


IMAGE_DIGEST_SCRIPT = "image-digest.sh"  # components/swarm/, fed on stdin (not shipped to the host)


def image_digest_command(user: str, run: str) -> str:
    """Run image-digest.sh from stdin (the tags follow it there): pull each tag and print its digest; ``run``
    changes on every up."""
    return " ".join([*_sudo(user), "env", f"HIVE_RUN={shlex.quote(run)}", "bash", "-s"])
