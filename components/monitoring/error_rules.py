"""hive-builder's ``monitor_error``/``ignore_error`` as rsyslog rules (reference §2: regex rules writing to
``/var/log/service-error.log``).

A line of a service's log (rsyslog's ``$programname`` is the service: docker's syslog driver tags each line
with it) is copied to the error log when it matches one of the service's ``monitor_error`` patterns and none
of its ``ignore_error`` patterns. rsyslog's ``re_match()`` uses POSIX extended regular expressions; the
inventory checks the patterns compile as Python regexes, which agree with ERE on the usual syntax (classes,
alternation, anchors, ``\\[`` escapes) but not on Perl extensions such as ``\\d`` or lazy quantifiers.
"""

from __future__ import annotations

from collections.abc import Iterable

from components.inventory.services import Service

ERROR_LOG = "/var/log/service-error.log"


def rainerscript_string(value: str) -> str:
    """A RainerScript string literal: backslash and double quote escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def watched(services: Iterable[Service]) -> list[Service]:
    """Services with at least one monitor_error pattern, by name."""
    return sorted((s for s in services if s.monitor_error), key=lambda s: s.name)


def error_rules(services: Iterable[Service]) -> str:
    """The rules included inside the log collector's ruleset (one ``if`` per watched service)."""
    blocks = ["# managed by hive (hostsetup/monitoring-errors.sh): monitor_error / ignore_error of each service"]
    for service in watched(services):
        monitor = " or ".join(f"re_match($msg, {rainerscript_string(p)})" for p in service.monitor_error)
        condition = f"$programname == {rainerscript_string(service.name)} and ({monitor})"
        if service.ignore_error:
            ignore = " or ".join(f"re_match($msg, {rainerscript_string(p)})" for p in service.ignore_error)
            condition += f" and not ({ignore})"
        blocks.append(
            f"if {condition} then {{\n"
            f'    action(type="omfile" file="{ERROR_LOG}" template="RSYSLOG_FileFormat"\n'
            f'           fileCreateMode="0640" fileOwner="root" fileGroup="adm")\n'
            f"}}"
        )
    return "\n".join(blocks) + "\n"


def watched_names(services: Iterable[Service]) -> str:
    """``HIVE_ERROR_SERVICES``: the watched services, space separated (hive-metrics reports 0 for each)."""
    return " ".join(s.name for s in watched(services))
