"""``python -m components import-hive-builder DIR [--project-dir DIR] [--force]``.

Reads the hive-builder project DIR and writes into this project (default: the current directory): nothing
over an existing file unless ``--force``; a second run without it changes nothing and says so.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from components.importer.hive_builder import (
    NOTES_FILE,
    PERSISTENTS,
    SECRETS_SCRIPT,
    HiveBuilderError,
    Project,
    convert,
    load_yaml,
    notes_text,
)

COMMAND = "import-hive-builder"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m components {COMMAND}", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the hive-builder project (holding inventory/)")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd(), help="this project (holding Pulumi.yaml)")
    parser.add_argument("--force", action="store_true", help="overwrite files that exist")
    return parser


def _yaml_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")], key=lambda p: p.name)


def read_project(source: Path) -> Project:
    """The hive-builder project's files (display paths relative to ``source``)."""
    if not (source / "inventory").is_dir():
        raise HiveBuilderError(f"{source}: no inventory/ directory (not a hive-builder project)")
    texts: dict[str, str] = {}
    inventory: list[tuple[str, object]] = []
    for path in [*_yaml_files(source / "inventory"), *_yaml_files(source / "services")]:
        display = str(path.relative_to(source))
        texts[display] = path.read_text(encoding="utf-8")
        inventory.append((display, load_yaml(texts[display], display)))
    group_vars = []
    for path in _yaml_files(source / "inventory" / "group_vars"):
        display = str(path.relative_to(source))
        group_vars.append((display, load_yaml(path.read_text(encoding="utf-8"), display)))
    persistents_path = source / PERSISTENTS
    persistents = (
        load_yaml(persistents_path.read_text(encoding="utf-8"), PERSISTENTS) if persistents_path.is_file() else {}
    )
    return Project(inventory, group_vars, persistents, texts)


def write(project_dir: Path, files: dict[str, str], force: bool) -> tuple[list[str], list[str], list[str]]:
    """Write ``files``; returns (written, unchanged, kept: existing and different, not overwritten)."""
    written, unchanged, kept = [], [], []
    for name, text in files.items():
        path = project_dir / name
        if path.exists() and path.read_text(encoding="utf-8") == text:
            unchanged.append(name)
            continue
        if path.exists() and not force:
            kept.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if name == SECRETS_SCRIPT:
            path.chmod(0o755)
        written.append(name)
    return written, unchanged, kept


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not (args.project_dir / "Pulumi.yaml").is_file():
        print(
            f"{args.project_dir}: no Pulumi.yaml (run this in the hive project, or give --project-dir)", file=sys.stderr
        )
        return 2
    try:
        result = convert(read_project(args.source))
    except HiveBuilderError as exc:
        print(f"{args.source}/{exc}" if not str(exc).startswith(str(args.source)) else exc, file=sys.stderr)
        return 2
    files = {**result.files, NOTES_FILE: notes_text(result.notes)}
    written, _unchanged, kept = write(args.project_dir, files, args.force)
    for name in written:
        print(f"wrote {name}")
    for name in kept:
        print(f"kept {name}: it exists and differs (--force overwrites it)")
    if not written:
        print("nothing changed" + (": every file is already as imported" if not kept else ""))
    for note in result.notes:
        print(f"not translated: {note}")
    print(
        f"next: run the commands in {SECRETS_SCRIPT} you need (each asks for its value), then ./hive inventory -s STAGE"
    )
    return 1 if kept else 0
