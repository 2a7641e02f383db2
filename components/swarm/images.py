"""Image builds → the inputs of ``docker.Image`` (built by the repository server's daemon). Pure, except
:func:`write_generated_context`, which writes a ``from`` build's generated Dockerfile to its build context.

Paths are relative to the project directory (the Pulumi program's working directory), so state does not
depend on where an operator's checkout lives:

* a ``context`` build: ``services/<context>`` with ``services/<context>/<dockerfile or Dockerfile>``;
* a ``from`` build: ``.hive/build/<service>/`` holding only the generated ``Dockerfile`` (deterministic:
  the same definition gives the same bytes, so the provider's context hash only changes with it).

The image is pushed as ``<repository>:5000/image_<service>:latest``; services run it by the pushed digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.inventory.services import REGISTRY_PORT, ImageBuild, Service, registry_tag
from components.inventory.site import Site

SERVICES_DIR = "services"
BUILD_DIR = ".hive/build"
TAG = "latest"


@dataclass(frozen=True)
class ImagePlan:
    service: str
    image_name: str  # <repository>:5000/image_<service>:latest
    context: str  # relative to the project directory
    dockerfile: str  # relative to the project directory
    args: dict[str, str]
    target: str | None
    generated_dockerfile: str | None  # the content to write for a ``from`` build

    def build_args(self) -> dict[str, Any]:
        """``docker.Image(build=…)`` (DockerBuildArgs, snake_case)."""
        build: dict[str, Any] = {"context": self.context, "dockerfile": self.dockerfile}
        if self.args:
            build["args"] = dict(self.args)
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
        return ImagePlan(service.name, name, context, f"{context}/Dockerfile", {}, None, generated)
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
