"""``python -m components.doctor`` (what ``./hive doctor`` runs)."""

import sys

from components.doctor.cli import main

sys.exit(main())
