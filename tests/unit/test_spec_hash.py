"""components/swarm/spec_hash.py: the service spec's hash is Output.json_dumps's, without its deep lift."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import pulumi
import pytest

from components.swarm.spec_hash import json_sha256


def _known(value: Any, *, secret: bool = False) -> pulumi.Output[Any]:
    output = pulumi.Output.from_input(value)
    return pulumi.Output.secret(output) if secret else output


def _unknown() -> pulumi.Output[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    known: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    known.set_result(False)
    secret: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    secret.set_result(False)
    return pulumi.Output(set(), future, known, secret)


def _resolve(make: Any) -> tuple[Any, bool, bool]:
    async def run() -> tuple[Any, bool, bool]:
        output = make()
        return await output.future(), await output.is_known(), await output.is_secret()

    return asyncio.run(run())


def _spec() -> dict[str, Any]:
    return {
        "name": "api",
        "task_spec": {
            "container_spec": {"image": _known("reg/api@sha256:" + "a" * 64), "env": {"A": "1"}},
            "networks_advanced": [{"name": _known("net-id")}],
        },
        "endpoint_spec": {"ports": ({"published_port": _known(30001), "target_port": 80},)},
    }


def test_hash_is_json_dumps_of_the_resolved_spec_in_its_key_order() -> None:
    plain = {
        "name": "api",
        "task_spec": {
            "container_spec": {"image": "reg/api@sha256:" + "a" * 64, "env": {"A": "1"}},
            "networks_advanced": [{"name": "net-id"}],
        },
        "endpoint_spec": {"ports": [{"published_port": 30001, "target_port": 80}]},
    }
    value, known, secret = _resolve(lambda: json_sha256(_spec()))
    assert value == hashlib.sha256(json.dumps(plain).encode()).hexdigest()
    assert known and not secret


def test_hash_equals_the_sdk_json_dumps_hash() -> None:
    async def both() -> tuple[str, str]:
        ours = await json_sha256(_spec()).future()
        sdk = await pulumi.Output.json_dumps(_spec()).apply(lambda t: hashlib.sha256(t.encode()).hexdigest()).future()
        return ours, sdk

    ours, sdk = asyncio.run(both())
    assert ours == sdk


def test_a_secret_inside_makes_the_hash_secret() -> None:
    _, _, secret = _resolve(lambda: json_sha256({"a": [_known("x", secret=True)]}))
    assert secret


def test_an_unknown_inside_makes_the_hash_unknown() -> None:
    _, known, _ = _resolve(lambda: json_sha256({"a": {"b": _unknown()}}))
    assert not known


def test_a_key_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(TypeError, match="not a string"):
        json_sha256({1: "x"})
