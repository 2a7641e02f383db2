"""The swarm layer (DESIGN §7): docker providers, overlay networks, image builds, DRBD volumes, services.

The pure parts (``drbd_config``, ``service_spec``, ``networks``, ``images``, ``commands``) need no Pulumi;
:class:`Swarm` turns them into resources.
"""

from components.swarm.component import Swarm, SwarmArgs

__all__ = ["Swarm", "SwarmArgs"]
