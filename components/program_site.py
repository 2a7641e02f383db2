"""The site as the running Pulumi program sees it: engine config + services/ → validated Site.

Validation runs here, before any resource exists; a bad input ends the program with one clean line
(``pulumi.RunError``: no traceback) naming the file, key path, bad value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from components.inventory.allocation import Allocations
from components.inventory.errors import ConfigError
from components.inventory.site import Site, resolve_site
from components.inventory.sources import check_build_contexts, config_from_engine, read_catalog
from components.inventory.stage import parse_stage

ALLOCATIONS_OUTPUT = "allocations"


@dataclass(frozen=True)
class ProgramSite:
    """The plain site (structure; allocated without history, so its numbers are for layout only) and the final one.

    ``site`` is known while the program runs: hosts, services, volumes. ``resolved`` also carries the
    allocation made against this stack's own last ``allocations`` output, which is only known as an Output.
    """

    site: Site
    resolved: pulumi.Output[Site]
    previous: pulumi.StackReference | None = None  # this stack's own last outputs (the self StackReference)

    def previous_output(self, name: str) -> pulumi.Output[Any]:
        """Output ``name`` of this stack's last ``up`` (None when there is none)."""
        if self.previous is None:
            return pulumi.Output.from_input(None)
        return self.previous.get_output(name)

    @property
    def allocations(self) -> pulumi.Output[Allocations]:
        return self.resolved.apply(lambda s: s.allocations)


def engine_config() -> dict[str, Any]:
    """Every config key the engine passed (``namespace:key`` → string)."""
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def engine_secret_keys(keys: Iterable[str]) -> set[str]:
    """The keys the engine marks secret (``pulumi config set --secret``): the SDK's own record
    (``pulumi.runtime.config.is_config_secret``, set from the language host's ``configSecretKeys``) and
    ``PULUMI_CONFIG_SECRET_KEYS`` — the two places ``pulumi.Config.get_secret`` consults."""
    from_env = set(runtime_config.get_config_secret_keys_env())
    return {key for key in keys if key in from_env or runtime_config.is_config_secret(key)}


DIY_ORGANIZATION = "organization"
"""The organization of every stack on a diy (file://, s3://, gs://, azblob://) backend: pulumi/pulumi
``pkg/backend/diy/state.go`` ("diy has no organizations really, but we just always say it's "organization"")."""


def self_reference_name(organization: str, project: str, stack: str) -> str:
    """The name under which this stack's StackReference finds this very stack, on every backend.

    A diy backend has two layouts (pulumi/pulumi ``pkg/backend/diy/store.go``): the project-scoped one accepts
    ``<stack>``, ``organization/<stack>`` and ``organization/<project>/<stack>`` (``projectReferenceStore.
    ParseReference``; a bare name takes the current project, which ``pulumi up`` sets from Pulumi.yaml), while a
    *legacy* backend (created before project-scoped stacks; ``pulumi state upgrade`` converts it) parses the
    whole name with ``tokens.ParseStackName`` (``legacyReferenceStore.ParseReference``), which allows only
    ``[A-Za-z0-9_.-]`` — ``organization/hive/<stack>`` is rejected there. So on a diy backend the bare name,
    which both layouts resolve to this stack. On Pulumi Cloud a bare name means the user's *default*
    organization, which need not be this stack's: there the fully qualified name.
    """
    if organization == DIY_ORGANIZATION:
        return stack
    return f"{organization}/{project}/{stack}"


def self_reference() -> pulumi.StackReference:
    """The StackReference to this very stack: its last outputs (allocations, resolved image digests)."""
    own = self_reference_name(pulumi.get_organization(), pulumi.get_project(), pulumi.get_stack())
    return pulumi.StackReference(f"{pulumi.get_stack()}-previous", stack_name=own)


def previous_allocations(reference: pulumi.StackReference) -> pulumi.Output[Allocations]:
    """This stack's own last ``allocations`` output (empty on the first run)."""
    own = self_reference_name(pulumi.get_organization(), pulumi.get_project(), pulumi.get_stack())
    return reference.get_output(ALLOCATIONS_OUTPUT).apply(
        lambda data: Allocations.parse(data or {}, f"stack {own} output {ALLOCATIONS_OUTPUT}")
    )


def _validated(build: Callable[[], Site]) -> Site:
    """Run a model step; a bad input ends the program with its one line (no traceback)."""
    try:
        return build()
    except ConfigError as exc:
        raise pulumi.RunError(str(exc)) from None


def load_program_site(project_dir: Path) -> ProgramSite:
    """Validate everything before any resource exists, then resolve against the previous allocation."""
    stack = pulumi.get_stack()

    def plain() -> Site:
        raw = engine_config()
        config = config_from_engine(raw, project_dir, stack, engine_secret_keys(raw))
        stage = parse_stage(config, stack)
        site = resolve_site(stage, read_catalog(project_dir, config), Allocations.empty())
        check_build_contexts(site, project_dir)
        return site

    site = _validated(plain)
    reference = self_reference()
    resolved = previous_allocations(reference).apply(
        lambda previous: _validated(lambda: resolve_site(site.stage, site.catalog, previous))
    )
    for warning in site.warnings:
        pulumi.log.warn(warning)
    return ProgramSite(site, resolved, reference)
