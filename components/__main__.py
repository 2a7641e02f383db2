"""``python -m components``: the offline inventory command (no cloud, no Pulumi CLI) and the importer."""

import sys

if sys.argv[1:2] == ["import-hive-builder"]:
    from components.importer.cli import main as import_main

    sys.exit(import_main(sys.argv[2:]))

from components.inventory.cli import main

sys.exit(main())
