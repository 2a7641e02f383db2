"""``./hive doctor``: the repair runbook's checks as code (monitoring/runbook.md).

Pure core (no Pulumi, no network): :mod:`sections` splits what ``collect.sh`` printed on a host,
:mod:`parse_system`, :mod:`parse_drbd`, :mod:`parse_swarm` and :mod:`parse_net` read each tool's real output,
:mod:`checks` turns them into :class:`~components.doctor.findings.Finding` lines with the runbook section
that repairs each. :mod:`remote` runs ``collect.sh`` over ssh and :mod:`cli` is the command.
"""
