"""The cross-language conformance suite, the Go anomaly consumer and grpcurl, live.

One real server and two real bridges (one open, one requiring a bearer token) serve
every test here, and a third bridge in front of a crafted upstream
(tests/support/crafted_upstream.py) serves the answers the server cannot give. The scenario
interpreter (runner.py) runs scenarios.json once per language, each time through that
language's thin client (Python, TypeScript on node, Go, Java on the JVM; Connect from Python
and from a page in headless Chromium, on the bridges' web ports);
each run uses its own model-id prefix, and the tensors they read back must be equal to the
last bit across languages.

Nothing is skipped: a missing toolchain fails with a message saying to run ``make setup``.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from neural_heatmap_contract.v1 import (
    neural_heatmap_service_pb2,
    neural_heatmap_service_pb2_grpc,
)

from tests.conformance import runner
from tests.conformance.frames import generate_requests
from tests.support.bridge_process import BridgeProcess
from tests.support.crafted_upstream import CraftedUpstream
from tests.support.sdk_builds import TS_DIR, esbuild_bundle, go_build, npm_build, tool
from tests.support.server_process import ServerProcess

REPO = Path(__file__).resolve().parents[2]
JAVA_DIR = REPO / "sdk" / "java"
GRPCURL = REPO / ".tools" / "bin" / "grpcurl"
TOKEN = "conformance-token"
SERVICE = "neural_heatmap.v1.NeuralHeatmapService"
SETUP_HINT = "run `make setup` (it installs npm packages, Go modules, Maven artifacts and grpcurl)"

# Results of each language's run, compared by test_digests_equal_across_languages.
RESULTS: dict[str, dict[str, Any]] = {}


def _need(name: str) -> str:
    return tool(name, SETUP_HINT)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    # The web ports serve this (at first empty) directory: the browser client's page goes
    # there when that client is built (files are read per request).
    web_root = tmp_path_factory.mktemp("web-root")
    web = ("--web-root", str(web_root))
    with (
        ServerProcess(extra_args=["--anomaly-cooldown", "0"]) as server,
        BridgeProcess(server.url, *web, web=True) as bridge,
        BridgeProcess(server.url, "--token", TOKEN, *web, web=True) as auth,
        CraftedUpstream() as upstream,
        BridgeProcess(upstream.url, *web, web=True) as crafted,
    ):
        yield {
            "server": server.url,
            "target": bridge.target,
            "auth_target": auth.target,
            "crafted_target": crafted.target,
            # the same bridges' web ports, for the Connect client
            "web": {"target": f"127.0.0.1:{bridge.web_port}",
                    "auth_target": f"127.0.0.1:{auth.web_port}",
                    "crafted_target": f"127.0.0.1:{crafted.web_port}"},
            "web_root": web_root,
            "bridge": bridge,
        }


# -> run prefix. "connect": Python over the bridges' web ports (Connect, JSON, HTTP/1.1);
# "browser": the same ports from a page in Chromium (Connect, binary; browser_client.py).
LANGUAGES = {"python": "py", "typescript": "ts", "go": "go", "java": "java", "connect": "cn",
             "browser": "br"}
WEB_LANGUAGES = {"connect", "browser"}
CONNECT_CLIENT = [*runner.PYTHON_CLIENT[:1], str(Path(__file__).with_name("connect_client.py")),
                  "--protocol", "connect", "--codec", "json"]
BROWSER_PAGE = """<!doctype html>
<meta charset="utf-8"><title>conformance</title><script src="conformance.js"></script>
"""


def _targets(stack: dict[str, Any], language: str) -> dict[str, str]:
    """The bridges' addresses a language's client calls (the web ports for Connect)."""
    if language in WEB_LANGUAGES:
        return dict(stack["web"])
    return {k: stack[k] for k in ("target", "auth_target", "crafted_target")}


def _scenario_names() -> list[str]:
    return [s["name"] for s in json.loads(runner.DEFAULT_SCENARIOS.read_text())["scenarios"]]


def _ts_built() -> bool:
    js = TS_DIR / "dist" / "conformance" / "client.js"
    if not js.exists():
        return False
    newest_src = max(p.stat().st_mtime for p in (TS_DIR / "src").rglob("*.ts"))
    return js.stat().st_mtime >= newest_src


@pytest.fixture(scope="module")
def ts_dist() -> Path:
    """sdk/typescript/dist, built with `npm run build` when missing or older than src/."""
    _need("node")
    return TS_DIR / "dist" if _ts_built() else npm_build()


@pytest.fixture(scope="module")
def browser_client(stack: dict[str, Any]) -> list[str]:
    """The browser thin client; its page and bundle (src/conformance/browser.ts, built by
    esbuild) are put in the web ports' root, so the page is same-origin with the calls."""
    root: Path = stack["web_root"]
    esbuild_bundle(TS_DIR / "src" / "conformance" / "browser.ts", root / "conformance.js")
    (root / "conformance.html").write_text(BROWSER_PAGE)
    return [*runner.PYTHON_CLIENT[:1], "-m", "tests.conformance.browser_client",
            "--page", "/conformance.html"]


@pytest.fixture(scope="module")
def go_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go thin client (sdk/go/conformance), built once for this module."""
    return go_build("./conformance", tmp_path_factory.mktemp("go") / "conformance")


def _java_built() -> bool:
    built = JAVA_DIR / "target" / "test-classes" / "dev" / "neuralheatmap" / "conformance" \
        / "ThinClient.class"
    if not built.exists() or not (JAVA_DIR / "target" / "test-classpath.txt").exists():
        return False
    sources = [*(JAVA_DIR / "src" / "main").rglob("*.java"),
               *(JAVA_DIR / "src" / "test").rglob("*.java"), *(REPO / "protos").rglob("*.proto")]
    sources.append(JAVA_DIR / "pom.xml")
    return built.stat().st_mtime >= max(p.stat().st_mtime for p in sources)


@pytest.fixture(scope="module")
def java_client() -> list[str]:
    """The Java thin client (sdk/java's test sources, dev.neuralheatmap.conformance.ThinClient)
    on the JVM.

    Built with `mvn package` (stubs generated from protos/; -DskipTests still compiles the
    test classes) when missing or older than its sources; Maven writes the test classpath
    (gson and protobuf-java-util are test-scoped) to target/test-classpath.txt.
    """
    java = _need("java")
    if not _java_built():
        build = subprocess.run(
            [_need("mvn"), "-q", "-B", "-DskipTests", "package"],
            cwd=JAVA_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert build.returncode == 0, f"mvn package failed ({SETUP_HINT}?):\n{build.stdout}"
    classpath = (JAVA_DIR / "target" / "test-classpath.txt").read_text().strip()
    return [
        java,
        "-XX:TieredStopAtLevel=1",  # a short-lived client: start fast rather than peak
        "-cp",
        f"{JAVA_DIR / 'target' / 'test-classes'}:{JAVA_DIR / 'target' / 'classes'}:{classpath}",
        "dev.neuralheatmap.conformance.ThinClient",
    ]


def _client(language: str, request: pytest.FixtureRequest) -> list[str]:
    """The thin client command of a language (built first when it needs building)."""
    if language == "typescript":
        dist = request.getfixturevalue("ts_dist")
        return [_need("node"), str(dist / "conformance" / "client.js")]
    if language == "go":
        return [str(request.getfixturevalue("go_client"))]
    if language == "java":
        return list(request.getfixturevalue("java_client"))
    if language == "connect":
        return list(CONNECT_CLIENT)
    if language == "browser":
        return list(request.getfixturevalue("browser_client"))
    return list(runner.PYTHON_CLIENT)


def _options(stack: dict[str, Any], language: str, run: str, client: list[str]) -> runner.Options:
    return runner.Options(
        **_targets(stack, language),
        token=TOKEN,
        run=run,
        client=client,
        language=language,
    )


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_scenarios_pass(
    stack: dict[str, Any], language: str, request: pytest.FixtureRequest
) -> None:
    """Every scenario passes with the language's thin client making the calls."""
    lines: list[str] = []
    run = LANGUAGES[language]
    opts = _options(stack, language, run, _client(language, request))
    report = runner.run_scenarios(opts, out=lines.append)
    RESULTS[language] = report.to_json(language, run)
    assert report.failed == 0, "\n".join(lines)
    assert sorted(report.results) == sorted(_scenario_names())
    assert lines[-1] == f"{len(report.results)} passed, 0 failed"


def test_digests_equal_across_languages() -> None:
    missing = set(LANGUAGES) - set(RESULTS)
    assert not missing, f"no results from {sorted(missing)} (see the failures above)"
    py = RESULTS["python"]["digests"]
    assert {"correlation_layer", "correlation_unit", "compare_similarity"} <= set(py), py
    for lang in set(LANGUAGES) - {"python"}:
        assert RESULTS[lang]["digests"] == py, (
            f"{lang} read different bytes than python:\n{RESULTS[lang]['digests']}\n{py}"
        )


SELFTEST = Path(__file__).with_name("selftest.json")


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_selftest_fails_exactly_the_marked_scenarios(
    stack: dict[str, Any], language: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Through every client, the self-test passes and fails exactly the scenarios marked so.

    The command line runs it, so its exit status (1 when a scenario failed) is pinned too.
    """
    want = {s["name"]: s["expect_result"] for s in json.loads(SELFTEST.read_text())["scenarios"]}
    out = tmp_path / "selftest.json"
    targets = _targets(stack, language)
    rc = runner.main(
        [
            "--target",
            targets["target"],
            "--auth-target",
            targets["auth_target"],
            "--token",
            TOKEN,
            "--run",
            f"self-{LANGUAGES[language]}",
            "--client",
            shlex.join(_client(language, request)),
            "--language",
            language,
            "--scenarios",
            str(SELFTEST),
            "--out",
            str(out),
        ]
    )
    assert rc == 1, f"{language}: the runner must exit 1 when scenarios fail"
    results = json.loads(out.read_text())["results"]
    got = {k: "PASS" if v == "PASS" else "FAIL" for k, v in results.items()}
    assert got == want, f"{language} disagrees with the expected results: {results}"


# ----------------------------------------------------------------------------- anomaly consumer


def _nan_frames(
    model: str, layers: int, step: int
) -> neural_heatmap_service_pb2.IngestActivationsRequest:
    """One frame per layer, unit 0 NaN: one non_finite anomaly per layer (cooldown 0)."""
    frames = []
    for i in range(layers):
        gen = {
            "model_id": model,
            "steps": 1,
            "dt_ms": 100,
            "start_s": 1760000000 + step,
            "layers": [
                {
                    "layer_id": f"l{i}",
                    "units": 4,
                    "signal": {"kind": "sine", "freq": 0.5, "amp": 0.5},
                    "nan_steps": [0],
                }
            ],
        }
        frames.extend(generate_requests(gen)[0].frames)
    for f in frames:
        f.step = step
    return neural_heatmap_service_pb2.IngestActivationsRequest(frames=frames)


def _ingest_retrying(stub: Any, req: Any, timeout: float = 30) -> None:
    """Ingest one request, retrying while the bridge is being restarted by the test.

    DEADLINE_EXCEEDED is retried too: on a loaded 2-core machine a call made just as the
    restarted bridge comes up can outlive its deadline. A retried frame at worst adds
    anomalies to the log; the checks compare the consumer's output with the log itself.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            stub.IngestActivations(iter([req]), timeout=10, wait_for_ready=True)
            return
        except grpc.RpcError as e:
            transient = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            if e.code() not in transient or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _model_sequences(stub: Any, model: str) -> list[int]:
    seqs: list[int] = []
    after = 0
    while True:
        resp = stub.GetAnomalies(
            neural_heatmap_service_pb2.GetAnomaliesRequest(
                model_id=model, after_sequence=after, limit=1000
            ),
            timeout=10,
        )
        if not resp.anomalies:
            return seqs
        seqs.extend(a.sequence for a in resp.anomalies)
        after = seqs[-1]


def _lines(path: Path) -> list[int]:
    if not path.exists():
        return []
    return [int(x) for x in path.read_text().splitlines() if x.strip()]


def test_go_anomaly_consumer_survives_sigkill(stack: dict[str, Any], tmp_path: Path) -> None:
    binary = go_build("./examples/anomaly-consumer", tmp_path / "anomaly-consumer")
    model = "consumer-kill"
    state, out, log_path = tmp_path / "state", tmp_path / "out.log", tmp_path / "consumer.log"
    channel = grpc.insecure_channel(stack["target"])
    stub = neural_heatmap_service_pb2_grpc.NeuralHeatmapServiceStub(channel)
    rounds, layers = 40, 5
    stop = threading.Event()

    def produce() -> None:
        for step in range(rounds):
            if stop.is_set():
                return
            _ingest_retrying(stub, _nan_frames(model, layers, step))
            time.sleep(0.05)

    def start() -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            return subprocess.Popen(
                [
                    str(binary),
                    "-target",
                    stack["target"],
                    "-state",
                    str(state),
                    "-out",
                    str(out),
                    "-models",
                    model,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_for(pred: Any, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; consumer log:\n{log_path.read_text()}")
            time.sleep(0.05)

    producer = threading.Thread(target=produce, daemon=True)
    consumer = start()
    try:
        producer.start()
        kills = 0
        for threshold in (8, 40, 90):
            wait_for(lambda t=threshold: len(_lines(out)) >= t, f"{threshold} delivered anomalies")
            consumer.send_signal(signal.SIGKILL)
            consumer.wait()
            kills += 1
            consumer = start()
        # The bridge dies too (SIGKILL) while the consumer streams: it resumes on UNAVAILABLE.
        seen = len(_lines(out))
        wait_for(lambda: len(_lines(out)) >= seen + 10, "anomalies after the restarts")
        stack["bridge"].kill()
        time.sleep(0.3)
        stack["bridge"].start()
        producer.join(timeout=60)
        assert not producer.is_alive(), "producer did not finish"
        expected = _model_sequences(stub, model)
        assert len(expected) >= rounds * layers
        wait_for(lambda: len(_lines(out)) >= len(expected), f"all {len(expected)} anomalies")
        time.sleep(0.5)  # anything extra (a duplicate) would arrive now
        got = _lines(out)
        assert got == expected, (
            f"after {kills} SIGKILLs: {len(got)} lines, {len(set(got))} distinct, "
            f"{len(expected)} expected; duplicates: "
            f"{sorted({s for s in got if got.count(s) > 1})}; "
            f"missing: {sorted(set(expected) - set(got))[:20]}"
        )
        assert int(state.read_text()) == expected[-1]
    finally:
        stop.set()
        consumer.send_signal(signal.SIGTERM)
        try:
            consumer.wait(10)
        except subprocess.TimeoutExpired:
            consumer.kill()
            consumer.wait()
        channel.close()


def test_typescript_client_resumes_across_bridge_kill(
    stack: dict[str, Any], ts_dist: Path, tmp_path: Path
) -> None:
    """The TS thin layer live: Float32Array matrix, and anomalies() across a bridge SIGKILL."""
    node = _need("node")
    model, rounds, layers = "ts-tail", 30, 4
    channel = grpc.insecure_channel(stack["target"])
    stub = neural_heatmap_service_pb2_grpc.NeuralHeatmapServiceStub(channel)
    for step in range(10):
        _ingest_retrying(stub, _nan_frames(model, layers, step))
    clean = {
        "model_id": "ts-tail-matrix",
        "steps": 40,
        "dt_ms": 50,
        "start_s": 1760000000,
        "batch": 120,
        "layers": [
            {"layer_id": "a", "units": 4, "signal": {"kind": "sine", "freq": 2.0}, "spread": 0.2},
            {"layer_id": "b", "units": 4, "signal": {"kind": "ramp", "slope": 0.1}},
            {"layer_id": "c", "units": 4, "signal": {"kind": "sine", "freq": 2.0}, "gain": -1},
        ],
    }
    for req in generate_requests(clean):
        _ingest_retrying(stub, req)
    out_path, err_path = tmp_path / "tail.out", tmp_path / "tail.err"
    total = rounds * layers
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            [
                node,
                str(TS_DIR / "dist" / "conformance" / "tail.js"),
                "--target",
                stack["target"],
                "--matrix-model",
                "ts-tail-matrix",
                "--model",
                model,
                "--after",
                "0",
                "--count",
                str(total),
            ],
            stdout=out,
            stderr=err,
        )

    def seqs() -> list[int]:
        return [int(x.split()[1]) for x in out_path.read_text().splitlines() if x.startswith("SEQ")]

    try:
        deadline = time.monotonic() + 30
        while len(seqs()) < 10 * layers // 2:
            assert proc.poll() is None, f"tail exited early:\n{err_path.read_text()}"
            assert time.monotonic() < deadline, f"no anomalies:\n{err_path.read_text()}"
            time.sleep(0.05)
        stack["bridge"].kill()
        for step in range(10, rounds):  # logged while the bridge is down: replayed later
            if step == 15:
                stack["bridge"].start()
                stub = neural_heatmap_service_pb2_grpc.NeuralHeatmapServiceStub(channel)
            if step >= 15:
                _ingest_retrying(stub, _nan_frames(model, layers, step))
            else:
                _post_frames_to_server(stack["server"], model, layers, step)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        channel.close()
    err = err_path.read_text()
    assert proc.returncode == 0, err
    matrix = json.loads(out_path.read_text().splitlines()[0].removeprefix("MATRIX "))
    assert matrix["float32"] and matrix["size"] == 3 and matrix["length"] == 9, matrix
    assert all(abs(d - 1) < 1e-5 for d in matrix["diagonal"]), matrix
    with grpc.insecure_channel(stack["target"]) as ch:
        expected = _model_sequences(
            neural_heatmap_service_pb2_grpc.NeuralHeatmapServiceStub(ch), model
        )
    assert seqs() == expected[:total], f"got {seqs()}\nexpected {expected}\n{err}"
    assert "RECONNECT" in err, "the bridge kill did not break the stream"


def _post_frames_to_server(url: str, model: str, layers: int, step: int) -> None:
    """Ingest into the server over HTTP JSON, as a training job does while the bridge is down."""
    frames = [
        {
            "model_id": model,
            "layer_id": f"l{i}",
            "timestamp": 1760000000 + step,
            "step": step,
            "values": ["NaN" if u == 0 else 0.25 for u in range(4)],
        }
        for i in range(layers)
    ]
    body = json.dumps({"frames": frames})
    req = urllib.request.Request(
        f"{url}/api/activations",
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


# ----------------------------------------------------------------------------- grpcurl


def _grpcurl_run(
    stack: dict[str, Any], *args: str, data: str | None = None, method: str | None = None
) -> subprocess.CompletedProcess[str]:
    if not GRPCURL.exists():
        pytest.fail(f"{GRPCURL} is missing; {SETUP_HINT}")
    cmd = [str(GRPCURL), "-plaintext", "-max-time", "20", *args]
    if data is not None:
        cmd += ["-d", data]
    cmd.append(stack["target"])
    if method:
        cmd.append(method)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_grpcurl_lists_describes_and_calls_through_reflection(stack: dict[str, Any]) -> None:
    listed = _grpcurl_run(stack, method="list")
    assert listed.returncode == 0, listed.stderr
    services = listed.stdout.split()
    assert SERVICE in services
    assert "grpc.health.v1.Health" in services

    described = subprocess.run(
        [str(GRPCURL), "-plaintext", "-max-time", "20", stack["target"], "describe", SERVICE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert described.returncode == 0, described.stderr
    assert f"{SERVICE} is a service" in described.stdout
    for rpc in ("ListModels", "GetAnomalies", "SubscribeAnomalies", "IngestActivations"):
        assert f"rpc {rpc}" in described.stdout

    # Data of our own, so both calls have something to show.
    with grpc.insecure_channel(stack["target"]) as ch:
        stub = neural_heatmap_service_pb2_grpc.NeuralHeatmapServiceStub(ch)
        stub.IngestActivations(iter([_nan_frames("grpcurl-model", 2, 0)]), timeout=10)

    models = _grpcurl_run(stack, data='{"include_units": true}', method=f"{SERVICE}/ListModels")
    assert models.returncode == 0, models.stderr
    doc = json.loads(models.stdout)
    assert "grpcurl-model" in [m["model_id"] for m in doc["models"]]

    deadline = time.monotonic() + 10
    while True:
        anomalies = _grpcurl_run(
            stack,
            data='{"model_id": "grpcurl-model", "after_sequence": 0, "limit": 5}',
            method=f"{SERVICE}/GetAnomalies",
        )
        assert anomalies.returncode == 0, anomalies.stderr
        doc = json.loads(anomalies.stdout)
        if doc.get("anomalies") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert doc["anomalies"], doc
    assert all(a["model_id"] == "grpcurl-model" for a in doc["anomalies"])
    assert int(doc["last_sequence"]) >= int(doc["anomalies"][-1]["sequence"])

    bad = _grpcurl_run(
        stack,
        data='{"filter": {"intensity_range": {"min": 2, "max": 1}}}',
        method=f"{SERVICE}/SetFilter",
    )
    assert bad.returncode != 0
    assert "InvalidArgument" in bad.stderr
