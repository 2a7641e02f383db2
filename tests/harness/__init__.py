"""Test harness: run the real Pulumi program under mocks, record it, check it against the SDKs.

from tests.harness import run_program, BaseMocks, assert_valid_inputs, UNKNOWN, is_unknown
"""

from .fake_values import UNKNOWN, FakeEnv, is_unknown
from .program import (
    BaseMocks,
    HarnessResourceArgs,
    LogMessage,
    ProgramRun,
    RecordedInvoke,
    RecordedResource,
    ResourceRef,
    config_value,
    load_stack_config,
    run_program,
)
from .sdk_types import assert_valid_inputs, check_inputs, check_run

__all__ = [
    "UNKNOWN",
    "BaseMocks",
    "FakeEnv",
    "HarnessResourceArgs",
    "LogMessage",
    "ProgramRun",
    "RecordedInvoke",
    "RecordedResource",
    "ResourceRef",
    "assert_valid_inputs",
    "check_inputs",
    "check_run",
    "config_value",
    "is_unknown",
    "load_stack_config",
    "run_program",
]
