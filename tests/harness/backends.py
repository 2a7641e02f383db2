"""How a state backend resolves a ``pulumi.StackReference`` name (pulumi/pulumi 1b5949891b3c).

A StackReference is read by the engine's builtin provider through the backend the CLI runs with
(``GetStackOutputs`` → ``ParseStackReference``). Each class maps a name to the stack it means — a canonical
key ``org/project/stack`` — or raises :class:`StackReferenceRejected` with the backend's own message:

* :class:`DiyBackend` — file://, s3://, gs://, azblob:// (``pkg/backend/diy/store.go``), in its two layouts:
  ``project`` (``projectReferenceStore.ParseReference``: ``<stack>``, ``organization/<stack>``,
  ``organization/<project>/<stack>``; a missing project is the current one; the organization must be
  ``organization``) and ``legacy`` (a backend made before project-scoped stacks: ``legacyReferenceStore.
  ParseReference`` → ``tokens.ParseStackName`` of the whole name, ``[A-Za-z0-9_.-]`` only, no project — every
  stack of the backend is ``organization/<any project>/<stack>`` alike, keyed here with project ``*``).
* :class:`CloudBackend` — Pulumi Cloud (``pkg/backend/httpstate``): a missing organization is the user's
  default one, a missing project the current one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")  # sdk/go/common/tokens/stack_name.go stackNameRegex, ≤ 100


class StackReferenceRejected(ValueError):
    """The backend cannot parse the name: the StackReference read fails the run."""


def _stack_name(name: str) -> str:
    if not STACK_NAME.fullmatch(name):
        raise StackReferenceRejected(
            f"a stack name may only contain alphanumeric, hyphens, underscores, or periods: {name!r}"
        )
    return name


@dataclass(frozen=True)
class DiyBackend:
    layout: str = "project"  # "project" | "legacy"
    organization: str = "organization"  # pkg/backend/diy/state.go: always "organization"

    def key(self, name: str, current_project: str) -> str:
        if self.layout == "legacy":
            return f"organization/*/{_stack_name(name)}"
        parts = name.split("/")
        if len(parts) > 3:
            raise StackReferenceRejected(f"could not parse stack reference {name!r}")
        org, project = ("", "")
        if len(parts) == 2:
            org = parts[0]
        elif len(parts) == 3:
            org, project = parts[0], parts[1]
        if (org or "organization") != "organization":
            raise StackReferenceRejected("organization name must be 'organization'")
        return f"organization/{project or current_project}/{_stack_name(parts[-1])}"

    def own_key(self, organization: str, project: str, stack: str) -> str:
        return f"organization/{'*' if self.layout == 'legacy' else project}/{stack}"


@dataclass(frozen=True)
class CloudBackend:
    default_organization: str  # the logged-in user's default organization

    def key(self, name: str, current_project: str) -> str:
        parts = name.split("/")
        if len(parts) == 1:
            return f"{self.default_organization}/{current_project}/{_stack_name(parts[0])}"
        if len(parts) == 2:
            return f"{parts[0]}/{current_project}/{_stack_name(parts[1])}"
        if len(parts) == 3:
            return f"{parts[0]}/{parts[1]}/{_stack_name(parts[2])}"
        raise StackReferenceRejected(f"could not parse stack reference {name!r}")

    def own_key(self, organization: str, project: str, stack: str) -> str:
        return f"{organization}/{project}/{stack}"


Backend = DiyBackend | CloudBackend
