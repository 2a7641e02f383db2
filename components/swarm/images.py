"""Image builds → the inputs of ``docker.Image`` (built by the repository server's daemon). Pure, except
:func:`write_generated_context`, which writes a ``from`` build's generated Dockerfile to its build context.

Paths are relative to the project directory (the Pulumi program's working directory), so state does not
depend on where an operator's checkout lives:

* a ``context`` build: ``services/<context>`` with ``services/<context>/<dockerfile or Dockerfile>``;
* a ``from`` build: ``.hive/build/<service>/`` holding only the generated ``Dockerfile`` (deterministic:
  the same definition gives the same bytes, so the provider's context hash only changes with it).

The image is pushed as ``<repository>:5000/image_<service>:latest``; services run it by the pushed digest.

Two inputs the provider would otherwise decide from the operator's machine or leave out (pulumi/pulumi-docker
``provider/provider.go`` ``Check`` / ``Diff`` / ``Update``, native ``docker.Image``):

* ``build.platform`` is always the stage's ``hive:image_platform``: ``Check`` sets an unset platform to
  ``"linux/" + runtime.GOARCH`` of the machine running Pulumi, so an arm64 laptop would ask the amd64
  repository server for arm64 images and alternating operators would rebuild and roll every service.
* ``build.args`` carries :data:`REPOSITORY_ARG` = the repository machine's identity: ``Diff`` compares the old
  inputs with the new ones and nothing else (no read of the registry), and ``Update`` builds and pushes again.
  A replaced repository server (an empty registry) changes the identity, so every image is pushed to it
  again. The argument is never declared in a Dockerfile: docker ignores an undeclared build argument (it
  only warns), so it changes no layer and no cache key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.inventory.services import REGISTRY_PORT, ImageBuild, Service, registry_tag
from components.inventory.site import Site

SERVICES_DIR = "services"
BUILD_DIR = ".hive/build"
TAG = "latest"
REPOSITORY_ARG = "HIVE_REPOSITORY_MACHINE"  # build argument: the repository machine's identity


@dataclass(frozen=True)
class ImagePlan:
    service: str
    image_name: str  # <repository>:5000/image_<service>:latest
    context: str  # relative to the project directory
    dockerfile: str  # relative to the project directory
    args: dict[str, str]
    target: str | None
    generated_dockerfile: str | None  # the content to write for a ``from`` build
    platform: str = "linux/amd64"  # the stage's hive:image_platform

    def build_args(self, repository_identity: Any) -> dict[str, Any]:
        """``docker.Image(build=…)`` (DockerBuildArgs, snake_case); ``repository_identity`` (Input[str]) is the
        repository machine's identity: a new machine builds and pushes every image again."""
        build: dict[str, Any] = {
            "context": self.context,
            "dockerfile": self.dockerfile,
            "platform": self.platform,
            "args": {**self.args, REPOSITORY_ARG: repository_identity},
        }
        if self.target is not None:
            build["target"] = self.target
        return build


def registry_server(site: Site) -> str:
    """``<repository fqdn>:5000``: the site registry."""
    return f"{site.repository.fqdn}:{REGISTRY_PORT}"


def image_plan(site: Site, service: Service) -> ImagePlan | None:
    """The build of ``service`` on this stage, or None (a string image, or a ``pull_on`` stage)."""
    if not service.builds_image(site.stage.stage):
        return None
    image = service.image
    assert isinstance(image, ImageBuild)
    name = f"{registry_tag(site.repository.fqdn, service.name)}:{TAG}"
    generated = image.generated_dockerfile()
    if generated is not None:
        context = f"{BUILD_DIR}/{service.name}"
        return ImagePlan(
            service.name, name, context, f"{context}/Dockerfile", {}, None, generated, site.stage.image_platform
        )
    assert image.context is not None
    context = f"{SERVICES_DIR}/{image.context}"
    return ImagePlan(
        service.name,
        name,
        context,
        f"{context}/{image.dockerfile or 'Dockerfile'}",
        dict(image.args),
        image.target,
        None,
        site.stage.image_platform,
    )


def image_plans(site: Site) -> list[ImagePlan]:
    return [plan for s in site.catalog.services if (plan := image_plan(site, s)) is not None]


def write_generated_context(project_dir: Path, plan: ImagePlan) -> None:
    """Write a ``from`` build's Dockerfile (only when its content differs: the file's mtime stays put)."""
    if plan.generated_dockerfile is None:
        return
    path = project_dir / plan.dockerfile
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != plan.generated_dockerfile:
        path.write_text(plan.generated_dockerfile, encoding="utf-8")


def missing_context(project_dir: Path, plan: ImagePlan) -> str | None:
    """A message when a context build's directory or Dockerfile does not exist, else None."""
    if plan.generated_dockerfile is not None:
        return None
    if not (project_dir / plan.context).is_dir():
        return f"service {plan.service}: build context {plan.context}/ does not exist"
    if not (project_dir / plan.dockerfile).is_file():
        return f"service {plan.service}: {plan.dockerfile} does not exist"
    return None


# The docker client's FromEnv (moby client/options.go: WithHostFromEnv, WithTLSClientConfigFromEnv) reads these.
REDIRECTING_ENV = ("DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")


def redirecting_env(environ: Mapping[str, str], plans: Sequence[ImagePlan]) -> str | None:
    """A one-line refusal when the operator's environment would redirect the site's image builds, else None.

    pulumi/pulumi-docker ``provider/image.go`` ``configureDockerClientInner`` builds the native ``docker.Image``
    client with TLS material as ``WithHTTPClient(...)``, ``WithHost(host)``, then ``client.FromEnv``: a set
    ``DOCKER_HOST`` replaces the repository server's address, ``DOCKER_CERT_PATH`` (with
    ``DOCKER_TLS_VERIFY``) replaces the client and its TLS material — the builds and pushes go to whatever
    the operator's shell points at. The program cannot change the provider plugin's environment (the engine
    starts it with the CLI's), so it refuses to run with them set. The bridged resources (networks,
    services) are not affected: kreuzwerker's ``internal/provider/config.go`` never applies ``FromEnv``.
    """
    if not plans:
        return None
    found = [name for name in REDIRECTING_ENV if environ.get(name)]
    if not found:
        return None
    return (
        f"environment: {', '.join(found)}: set, and pulumi-docker's image builds apply "
        f"{'it' if len(found) == 1 else 'them'} over the repository server's address and certificates "
        f"(unset {' '.join(REDIRECTING_ENV)} when running pulumi; the local provider's engine is chosen with "
        "`pulumi config set docker:host <url>`)"
    )


def preflight(project_dir: Path, site: Site, environ: Mapping[str, str]) -> list[str]:
    """Every problem of the image builds that must stop the program before any resource exists."""
    plans = image_plans(site)
    problems = [p for plan in plans if (p := missing_context(project_dir, plan)) is not None]
    if (env := redirecting_env(environ, plans)) is not None:
        problems.append(env)
    return problems
