"""``python -m components``: the offline inventory command (no cloud, no Pulumi CLI)."""

import sys

from components.inventory.cli import main

sys.exit(main())
