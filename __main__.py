"""hive on Pulumi: read this stack's site, build the Hive, export what operators and other stacks use."""

import gc
from pathlib import Path

from components.hive import Hive, HiveArgs
from components.outputs import export_outputs
from components.program_site import load_program_site

# The SDK keeps every Output and task of the program alive until the program ends: several hundred thousand at a
# large site, nearly none of them garbage. Python's collections walk them again and again as allocations pile up
# (bench/provisioning.py --evaluation at 30 hosts × 500 services: full collections 31 of 58 s, young ones still
# 1.2 of 9.2 s), and free next to nothing (peak memory 327 MB with them, 355 MB without). The process ends with
# the program, so it runs without the collector; reference counting still frees everything acyclic.
gc.disable()

PROJECT_DIR = Path(__file__).resolve().parent
program = load_program_site(PROJECT_DIR)
hive = Hive(program.site.stage.name, HiveArgs(program=program, project_dir=PROJECT_DIR))
export_outputs(program, hive)
