"""hive on Pulumi: read this stack's site, build the Hive, export what operators and other stacks use."""

import gc
from pathlib import Path

from components.hive import Hive, HiveArgs
from components.outputs import export_outputs
from components.program_site import load_program_site

# The SDK keeps every Output and task of the program alive until the program ends: several hundred thousand at a
# large site. Python's full collections walk all of them again each time the young ones pile up (cProfile of
# bench/provisioning.py --evaluation at 30 hosts × 500 services: 31 of 58 s), and free next to nothing (peak
# memory the same with or without them). So only young collections run here; the process ends with the program.
gc.set_threshold(*gc.get_threshold()[:2], 1_000_000)

PROJECT_DIR = Path(__file__).resolve().parent
program = load_program_site(PROJECT_DIR)
hive = Hive(program.site.stage.name, HiveArgs(program=program, project_dir=PROJECT_DIR))
export_outputs(program, hive)
