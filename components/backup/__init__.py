"""Backups (hive-builder's backup_scripts): what the repository server's agent is told, and its step's stdin."""
