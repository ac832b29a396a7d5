"""The conformance interpreter: runs tests/conformance/scenarios.json through a thin client.

The scenario language (README.md next to this file) is interpreted here only; each language
provides a thin client that executes the RPCs this file sends it (thin_client.py), so every
language's run differs only in the client that makes the calls. It prints
``PASS name`` / ``FAIL name: reason`` per scenario, then ``N passed, M failed``, exits 1 on a
failure, and writes a JSON result file whose ``digests`` (sha256 of tensor bytes read back)
must be equal across languages.

Usage::

    python -m tests.conformance.runner --target 127.0.0.1:50051 [--auth-target H:P --token T]
        [--crafted-target H:P]
        [--client "node sdk/typescript/dist/conformance/client.js"] [--language ts]
        [--run py] [--scenarios file] [--out results.json] [--only name,name]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2

from tests.conformance.checks import DEFAULT, MISSING, CheckFailed, check, resolve, substitute
from tests.conformance.frames import generate_requests, generated_digest
from tests.conformance.thin_client import Answer, StatusError, ThinClient, with_pythonpath

SERVICE = "neural_heatmap.v1.NeuralHeatmapService"
_METHODS = neural_heatmap_service_pb2.DESCRIPTOR.services_by_name["NeuralHeatmapService"]
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_SCENARIOS = HERE / "scenarios.json"
PYTHON_CLIENT = (sys.executable, str(HERE / "python_client.py"))
# Stream messages whose only field is named like this (``heartbeat`` on SubscribeAnomalies,
# ``anomaly_heartbeat`` / ``anomalyHeartbeat`` on StreamUpdates) are keep-alives, not data:
# skipped, so a scenario reads the same items whether or not one arrived in between.
HEARTBEAT_SUFFIX = "heartbeat"


@dataclass
class Options:
    """What to run, against which bridges, through which client."""

    target: str
    auth_target: str | None = None
    # A bridge in front of tests/support/crafted_upstream.py (answers the server cannot give).
    crafted_target: str | None = None
    token: str | None = None
    run: str = "py"
    only: Sequence[str] = ()
    scenarios: Path = DEFAULT_SCENARIOS
    client: Sequence[str] = PYTHON_CLIENT
    language: str = "python"


@dataclass
class Report:
    """Per-scenario outcome and the tensor digests recorded on the way."""

    results: dict[str, str] = field(default_factory=dict)  # name -> "PASS" or reason
    digests: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results.values() if r != "PASS")

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results.values() if r == "PASS")

    def to_json(self, language: str, run: str) -> dict[str, Any]:
        return {"language": language, "run": run, "results": self.results, "digests": self.digests}


# ----------------------------------------------------------------------------- calls


def is_heartbeat(message: Any) -> bool:
    """A stream message carrying nothing but a heartbeat (by field name, any stream)."""
    return (isinstance(message, dict) and len(message) == 1
            and next(iter(message)).lower().endswith(HEARTBEAT_SUFFIX))


def _requests(step: Mapping[str, Any]) -> list[Any]:
    if "generate" in step:
        return [json_format.MessageToDict(r) for r in generate_requests(step["generate"])]
    if "requests" in step:
        return list(step["requests"])
    return [step.get("request", {})]


def call(
    client: ThinClient,
    target: str,
    step: Mapping[str, Any],
    metadata: Mapping[str, str],
    during: Callable[[], None] | None = None,
) -> Any:
    """The step's call through the client: the response, or ``{"items"}`` of a stream.

    Args:
        client: The thin client making the calls.
        target: The bridge's ``host:port``.
        step: The step, its variables substituted.
        metadata: Call metadata (the bearer token).
        during: Server streams: run once the stream is open and before it is read (the
            step's ``during`` steps), for streams that carry only what happens after they open.

    Raises:
        StatusError: The call ended with a status other than OK.
    """
    rpc = step["rpc"]
    timeout = float(step.get("timeout_s", 30))
    method = _METHODS.methods_by_name.get(rpc)
    if method is not None and method.server_streaming:
        return _collect(client, target, step, metadata, timeout, during)
    answer = client.call(target, f"{SERVICE}/{rpc}", _requests(step), metadata, timeout)
    if answer.code != "OK":
        raise StatusError(answer)
    if len(answer.responses) != 1:
        raise CheckFailed(f"{len(answer.responses)} responses to a call that returns one")
    return answer.responses[0]


def _collect(
    client: ThinClient,
    target: str,
    step: Mapping[str, Any],
    metadata: Mapping[str, str],
    timeout: float,
    during: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Read a server stream one response at a time until ``take`` items, then cancel it.

    With ``during``, the stream is opened without reading, ``settle_s`` seconds pass (so the
    bridge has subscribed upstream), ``during`` runs, and only then the stream is read.
    """
    take, path = int(step.get("take", 1)), step.get("collect")
    items: list[Any] = []
    answer: Answer | None = None
    try:
        answer = client.call(
            target,
            f"{SERVICE}/{step['rpc']}",
            _requests(step),
            metadata,
            timeout,
            max_responses=0 if during else 1,
        )
        if during and answer.open:
            time.sleep(float(step.get("settle_s", 0)))
            during()
        while True:
            for msg in answer.responses:
                if is_heartbeat(msg):
                    continue
                got = msg if path is None else resolve(msg, path)
                if isinstance(got, list):
                    items.extend(got)
                elif got is not MISSING and got is not DEFAULT:
                    items.append(got)
            if len(items) >= take or not answer.open:
                break
            answer = client.next(answer, 1, timeout)
    finally:
        if answer is not None and answer.open:
            client.cancel(answer)
    if len(items) < take:
        if answer.code != "OK":
            raise StatusError(answer)
        raise CheckFailed(f"stream ended after {len(items)} of {take} items")
    return {"items": items[:take]}


# ----------------------------------------------------------------------------- scenarios


def run_scenarios(opts: Options, out: Callable[[str], None] = print) -> Report:
    """Run every scenario (or ``opts.only``) through one client process for the whole run."""
    doc = json.loads(Path(opts.scenarios).read_text())
    report = Report()
    client = ThinClient(opts.client, env=with_pythonpath(REPO / "sdk" / "python"), cwd=REPO)
    try:
        for scenario in doc["scenarios"]:
            name = scenario["name"]
            if opts.only and name not in opts.only:
                continue
            try:
                run_scenario(scenario, client, opts, report.digests)
                report.results[name] = "PASS"
                out(f"PASS {name}")
            except CheckFailed as e:
                report.results[name] = str(e)
                out(f"FAIL {name}: {e}")
            except Exception as e:  # an interpreter bug must still be one FAIL line
                report.results[name] = f"{type(e).__name__}: {e}"
                out(f"FAIL {name}: {type(e).__name__}: {e}")
    finally:
        client.close()
    out(f"{report.passed} passed, {report.failed} failed")
    return report


def run_scenario(
    scenario: dict[str, Any], client: ThinClient, opts: Options, digests: dict[str, str]
) -> None:
    """Run the steps in order; the first failing step fails the scenario."""
    kind = scenario.get("target", "default")
    target = {"auth": opts.auth_target, "crafted": opts.crafted_target}.get(kind, opts.target)
    if not target:
        raise CheckFailed(f"scenario needs the {kind} target (--{kind}-target)")
    env: dict[str, Any] = {"RUN": opts.run}
    for i, raw_step in enumerate(scenario["steps"]):
        label = f"step {i + 1} {raw_step['rpc']}" + (
            f" ({raw_step['name']})" if "name" in raw_step else ""
        )
        try:
            run_step(raw_step, client, target, opts, env, digests)
        except CheckFailed as e:
            raise CheckFailed(f"{label}: {e}") from e


def _metadata(step: dict[str, Any], opts: Options) -> dict[str, str]:
    auth = step.get("auth", "token" if opts.token else "none")
    if auth == "none":
        return {}
    if auth == "wrong":
        return {"authorization": "Bearer wrong-" + (opts.token or "token")}
    if not opts.token:
        raise CheckFailed("step needs a token (--token or NEURAL_HEATMAP_TOKEN)")
    return {"authorization": f"Bearer {opts.token}"}


def run_step(
    raw_step: dict[str, Any],
    client: ThinClient,
    target: str,
    opts: Options,
    env: dict[str, Any],
    digests: dict[str, str],
) -> None:
    """One step: call, compare the status, capture, check; repeated within ``retry_s``."""
    deadline = time.monotonic() + float(raw_step.get("retry_s", 0))
    expect_error = raw_step.get("expect_error")
    while True:
        try:
            step = {k: v for k, v in raw_step.items() if k not in ("expect", "capture", "during")}
            step = substitute(step, env)
            during = None
            if raw_step.get("during"):

                def during() -> None:
                    for sub in raw_step["during"]:
                        run_step(sub, client, target, opts, env, digests)

            try:
                result = call(client, target, step, _metadata(step, opts), during)
            except StatusError as e:
                code = e.answer.code
                if not expect_error:
                    raise CheckFailed(f"status {code}: {e.answer.message}") from e
                if code != expect_error:
                    raise CheckFailed(f"status {code}, expected {expect_error}") from e
                result = e.answer.status()
            else:
                if expect_error:
                    raise CheckFailed(f"call succeeded, expected status {expect_error}")
            captured = {}
            for var, path in raw_step.get("capture", {}).items():
                v = resolve(result, substitute(path, env))
                if v is MISSING or v is DEFAULT:
                    raise CheckFailed(f"capture {var}: {path} not found")
                captured[var] = v
            local = {**env, **captured}
            step_digests: dict[str, str] = {}
            for spec in raw_step.get("expect", []):
                check(result, substitute(spec, local), step_digests)
            if isinstance(step.get("generate"), dict) and "digest" in step["generate"]:
                step_digests[step["generate"]["digest"]] = generated_digest(step["generate"])
            env.update(captured)
            digests.update(step_digests)
            return
        except CheckFailed:
            if expect_error or time.monotonic() >= deadline:
                raise
            time.sleep(0.25)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (1 when a scenario failed)."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--target", required=True, help="host:port of the bridge")
    p.add_argument("--auth-target", default=os.environ.get("NEURAL_HEATMAP_AUTH_TARGET"))
    p.add_argument(
        "--crafted-target",
        default=os.environ.get("NEURAL_HEATMAP_CRAFTED_TARGET"),
        help="host:port of a bridge in front of tests/support/crafted_upstream.py",
    )
    p.add_argument("--token", default=os.environ.get("NEURAL_HEATMAP_TOKEN"))
    p.add_argument("--client", help="thin client command line (default: the Python client)")
    p.add_argument("--language", default="python", help="name of the client's language")
    p.add_argument("--run", default="py", help="prefix of every model id (keeps runs apart)")
    p.add_argument("--scenarios", default=str(DEFAULT_SCENARIOS))
    p.add_argument("--only", default="", help="comma list of scenario names")
    p.add_argument("--out", help="write results and digests as JSON here")
    a = p.parse_args(argv)
    opts = Options(
        target=a.target,
        auth_target=a.auth_target,
        crafted_target=a.crafted_target,
        token=a.token,
        run=a.run,
        only=[s for s in a.only.split(",") if s],
        scenarios=Path(a.scenarios),
        client=shlex.split(a.client) if a.client else PYTHON_CLIENT,
        language=a.language,
    )
    report = run_scenarios(opts, out=lambda line: print(line, flush=True))
    if a.out:
        doc = report.to_json(opts.language, opts.run)
        Path(a.out).write_text(json.dumps(doc, indent=2, sort_keys=True))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
