"""Run the doctor's collector on hosts over ssh (the stack's ssh_config and key, as ``./hive ssh`` does)."""

from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

COLLECT = Path(__file__).with_name("collect.sh")
SSH_TIMEOUT = 120


@dataclass(frozen=True)
class Ssh:
    config: Path  # an ssh_config whose Host entries are the site's FQDNs (stack output ssh_config)

    def run(self, host: str, command: str, stdin: str = "") -> tuple[int, str, str]:
        argv = ["ssh", "-F", str(self.config), "-o", "BatchMode=yes", "-o", "ConnectTimeout=15", host, command]
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=SSH_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return 255, "", f"ssh {host}: no answer within {SSH_TIMEOUT} s"
        return done.returncode, done.stdout, done.stderr

    def collect(self, host: str, flags: list[str]) -> tuple[int, str, str]:
        command = "sudo -n bash -s -- " + " ".join(shlex.quote(f) for f in flags)
        return self.run(host, command, COLLECT.read_text(encoding="utf-8"))

    def clock(self, host: str) -> tuple[float | None, float]:
        """(host clock − local clock, uncertainty): the host's time against the middle of the round trip."""
        before = time.time()
        rc, out, _ = self.run(host, "date +%s.%N")
        after = time.time()
        try:
            remote = float(out.strip())
        except ValueError:
            return None, 0.0
        return (remote - (before + after) / 2 if rc == 0 else None), (after - before) / 2

    def disk_consumers(self, host: str, mountpoint: str) -> str:
        quoted = shlex.quote(mountpoint)
        _, out, _ = self.run(host, f"sudo -n du -x -a -d1 -B1 {quoted} 2>/dev/null | sort -nr | head -6")
        return out
