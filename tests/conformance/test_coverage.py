"""Every RPC of the service is exercised by a conformance scenario, errors included.

Read from the generated service descriptor, so a new RPC fails this test until a scenario
in scenarios.json calls it (and therefore until every language's thin client has run it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tests.conformance import runner

# Status codes every language must be shown to report (scenario steps with expect_error).
REQUIRED_ERROR_CODES = {"INVALID_ARGUMENT", "NOT_FOUND", "UNAUTHENTICATED"}


def _steps(steps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every step, including those run while a stream is open (``during``)."""
    for step in steps:
        yield step
        yield from _steps(step.get("during", []))


def _all_steps() -> list[dict[str, Any]]:
    doc = json.loads(runner.DEFAULT_SCENARIOS.read_text())
    return [step for s in doc["scenarios"] for step in _steps(s["steps"])]


def test_every_rpc_of_the_service_is_in_a_scenario() -> None:
    rpcs = {m.name for m in runner._METHODS.methods}
    assert len(rpcs) >= 22, rpcs
    called = {step["rpc"] for step in _all_steps()}
    assert not rpcs - called, f"RPCs no conformance scenario calls: {sorted(rpcs - called)}"
    assert not called - rpcs, f"scenarios call RPCs the service lacks: {sorted(called - rpcs)}"


def test_every_rpc_is_checked_on_a_successful_call() -> None:
    """A call without checks proves only that it did not fail; each RPC needs one with values.

    RPCs whose response has no fields (ClearFilter) have no value to check: a later step reads
    their effect.
    """
    checked = {s["rpc"] for s in _all_steps() if s.get("expect") and not s.get("expect_error")}
    answering = {m.name for m in runner._METHODS.methods if m.output_type.fields}
    missing = answering - checked
    assert not missing, f"RPCs never checked by value: {sorted(missing)}"


def test_the_error_codes_are_exercised() -> None:
    codes = {s["expect_error"] for s in _all_steps() if "expect_error" in s}
    assert codes >= REQUIRED_ERROR_CODES, f"missing: {sorted(REQUIRED_ERROR_CODES - codes)}"
