"""hive on Pulumi: read this stack's site, build the Hive, export what operators and other stacks use."""

from pathlib import Path

from components.hive import Hive, HiveArgs
from components.outputs import export_outputs
from components.program_site import load_program_site

PROJECT_DIR = Path(__file__).resolve().parent
program = load_program_site(PROJECT_DIR)
hive = Hive(program.site.stage.name, HiveArgs(program=program, project_dir=PROJECT_DIR))
export_outputs(program, hive)
