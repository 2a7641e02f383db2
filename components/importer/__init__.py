"""``./hive import-hive-builder``: a hive-builder project → this project's stage files, services and secrets."""
