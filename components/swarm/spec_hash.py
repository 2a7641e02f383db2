"""The sha256 of a resource's nested inputs once their Outputs are known, without the SDK's deep lift.

``pulumi.Output.json_dumps(spec)`` starts with ``Output.from_input(spec)``, which lifts every nested dict, list
and element into an Output of its own (pulumi 3.x sdk/python/lib/pulumi/output.py ``from_input``: a dict becomes
``Output.all(*keys).apply(liftValues)``, ``liftValues`` ``Output.all(**d)`` again, each element ``from_input``
recursively). A service spec has a hundred such nodes, and every Output is one more task the runtime awaits
at the end of the program (runtime/stack.py ``wait_for_rpcs``): at 500 services that was 11 of 26 seconds of the
program's evaluation (bench/provisioning.py --evaluation). Here only the Outputs inside the value are awaited,
once, together; the text hashed is the same ``json.dumps`` of the resolved value.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pulumi


def _outputs_in(node: Any) -> Iterator[pulumi.Output[Any]]:
    if isinstance(node, pulumi.Output):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if not isinstance(key, str):
                raise TypeError(f"spec key {key!r} is not a string")
            yield from _outputs_in(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _outputs_in(value)


def _filled(node: Any, values: Iterator[Any]) -> Any:
    """``node`` with each Output replaced by the next of ``values`` (in :func:`_outputs_in`'s order)."""
    if isinstance(node, pulumi.Output):
        return next(values)
    if isinstance(node, dict):
        return {key: _filled(value, values) for key, value in node.items()}
    if isinstance(node, list | tuple):
        return [_filled(value, values) for value in node]
    return node


def json_sha256(value: Any) -> pulumi.Output[str]:
    """``Output.json_dumps(value).apply(sha256 hex)``: unknown while any Output in ``value`` is, secret when any
    is; ``value``'s plain parts are dicts with string keys, lists, tuples and JSON scalars."""
    outputs = list(_outputs_in(value))
    return pulumi.Output.all(*outputs).apply(
        lambda resolved: hashlib.sha256(json.dumps(_filled(value, iter(resolved))).encode()).hexdigest()
    )
