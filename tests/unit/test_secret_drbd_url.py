"""drbd-install.sh takes a secret source URL on stdin (``HIVE_DRBD_URL=-``) and never prints it."""

from __future__ import annotations

import os

import pytest

from tests.unit.test_drbd_scripts import step

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the steps refuse to run without root (require_root)")
SECRET = "tok-8d1e55aa90"


def test_a_secret_url_is_read_from_stdin_and_not_shown_when_bad() -> None:
    result = step("drbd-install", {"HIVE_DRBD_VERSION": "9.2.16", "HIVE_DRBD_URL": "-"}, f"ftp://u:{SECRET}@x/y.tgz\n")
    assert result.returncode == 1
    assert "HIVE_DRBD_URL 'the DRBD source URL (secret)' is not an https URL" in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_a_secret_url_must_be_on_stdin() -> None:
    result = step("drbd-install", {"HIVE_DRBD_VERSION": "9.2.16", "HIVE_DRBD_URL": "-"})
    assert result.returncode == 1
    assert "expected a secret on stdin, got nothing" in result.stderr
