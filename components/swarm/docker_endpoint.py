"""Where the swarm's docker providers point: the host's TLS Docker API in ``up``, nowhere in a preview.

Why (read at pulumi/pulumi 1b594989, pulumi/pulumi-docker 237b7899 = v5.x, pulumi/pulumi-terraform-bridge
59de6c66, kreuzwerker/terraform-provider-docker 83c00e0b; docs/provider-notes.md "Engine: preview and provider
configuration" has the whole argument):

1. The engine configures an explicit provider in a preview whenever all of its inputs are known
   (pulumi ``pkg/resource/deploy/providers/registry.go`` ``Same`` → ``provider.Configure(... res.Inputs)``;
   ``Update``/``Create`` likewise). After the first ``up`` the address and the TLS material are known.
2. pulumi-docker's ``Configure`` always runs the native half first (``provider/hybrid.go``: "Native provider
   returns empty response ... just call it"), which calls ``configureDockerClient(p.config, true)``
   (``provider/provider.go``), which pings the daemon — except when the client is an SSH connection helper:
   ``provider/image.go``: ``if cli.DaemonHost() == "http://docker.example.com" { return cli, err }`` ("Skip
   checking connection for SSH"). ``disable_docker_daemon_check`` is read by the bridged half only
   (kreuzwerker ``internal/provider/config.go`` ``MakeClient``). So a known ``tcp://`` host is pinged in
   every preview: a runner outside ``admin_cidrs`` fails.
3. Leaving an input unknown in preview instead does not configure the provider (pulumi
   ``pkg/resource/plugin/provider_plugin.go`` ``Configure``: "If any are unknown, do not configure"), but then
   ``Diff`` of every resource of that provider returns ``DiffUnavailable`` and the step generator turns it
   into an update (``pkg/resource/deploy/step_generator.go``: "If the plugin indicated that the diff is
   unavailable, assume that the resource will be updated"): every network, service and image would show as
   updated in every preview — not an accurate plan.

So in a preview the providers get a *known* endpoint on which pulumi-docker never connects: an ``ssh://`` URL
under the reserved ``.invalid`` domain (RFC 6761), without TLS material (the TLS branch of
``configureDockerClientInner`` is taken first and pings whatever host it names). The docker CLI's connection
helper only parses the URL; it would start ``ssh`` on the first request, and a preview makes none: the
bridged Diff of ``docker_network``/``docker_service`` is schema-only (no ``CustomizeDiff`` in kreuzwerker's
resources), the native ``Image`` Check/Diff hash the build context locally, and an Image is built in preview
only with ``buildOnPreview`` (``canPreview``), which the program never sets. The provider is configured, so every
resource is diffed by the real provider code: the plan of the swarm objects is the one ``up`` executes.
What the preview shows in exchange: each docker provider itself as ``~ update`` (``host`` changed, the TLS
material removed) — the bridge's ``DiffConfig`` never asks for a provider replacement (no
``ForcesProviderReplace`` in pulumi-docker's ``resources.go``) and ``Registry.Update`` keeps the provider's
ID, so no resource of it is replaced (``stepGenerator.providerChanged``: same reference). ``up`` (not a dry
run) registers the real endpoint again, equal to the state: the provider is unchanged there.
"""

from __future__ import annotations

from dataclasses import dataclass

PREVIEW_HOST = "ssh://pulumi-preview@docker-api.invalid"
"""The preview endpoint: pulumi-docker's native half makes it an SSH connection helper and skips its ping."""


@dataclass(frozen=True)
class DockerEndpoint:
    """The connection inputs of a ``docker.Provider`` (values or Outputs)."""

    host: object
    ca_material: object | None
    cert_material: object | None
    key_material: object | None

    def provider_kwargs(self) -> dict[str, object]:
        """``docker.Provider`` keyword arguments (absent TLS fields are left out, not sent empty)."""
        kwargs: dict[str, object] = {"host": self.host}
        for name in ("ca_material", "cert_material", "key_material"):
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = value
        return kwargs


def docker_endpoint(*, preview: bool, host: object, ca: object, cert: object, key: object) -> DockerEndpoint:
    """The real TLS endpoint in ``up``; :data:`PREVIEW_HOST` and no TLS material in a preview (see the module)."""
    if preview:
        return DockerEndpoint(PREVIEW_HOST, None, None, None)
    return DockerEndpoint(host, ca, cert, key)
