"""The documented multi-node shape starts: ``--anomaly-log nats://a,nats://b,nats://c``.

Three nats-server nodes routed into one JetStream cluster on loopback; the server writes
its anomaly log with three replicas and the bridge reads it, each given the list of all
three URLs (docs/deploy.md, "Across machines"). Before the fix both handed the whole
string to nats-py as one URL: the server exited at start-up and the bridge answered every
anomaly stream UNAVAILABLE. Then the node both connected to first is SIGKILLed: the
clients move to a surviving node and the stream keeps every anomaly, in order, once.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request

import grpc
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.support.bridge_process import BridgeProcess
from tests.support.nats_process import NatsCluster
from tests.support.server_process import REPO_ROOT, ServerProcess

STREAM = "NH_THREE"


def _post_nan(server: ServerProcess, layer: str) -> None:
    body = json.dumps({"frames": [{"model_id": "m", "layer_id": layer,
                                   "values": [float("nan"), 1.0]}]}).encode()
    request = urllib.request.Request(f"{server.url}/api/activations", data=body,
                                     headers={**server.headers, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200


def _sequences(bridge: BridgeProcess, count: int) -> list[int]:
    """The first ``count`` anomaly sequences the bridge's stream delivers from the start."""
    with bridge.channel() as channel:
        stub = pb_grpc.NeuralHeatmapServiceStub(channel)
        stream = stub.SubscribeAnomalies(pb.SubscribeAnomaliesRequest(after_sequence=0),
                                         timeout=60)
        seen: list[int] = []
        for message in stream:
            seen.extend(a.sequence for a in message.update.anomalies)
            if len(seen) >= count:
                stream.cancel()
                break
        return seen


def test_server_and_bridge_take_the_url_list_and_survive_the_first_node() -> None:
    with NatsCluster(3) as cluster:
        args = ["--anomaly-log", cluster.url, "--anomaly-stream", STREAM,
                "--anomaly-replicas", "3", "--anomaly-cooldown", "0"]
        with ServerProcess(extra_args=args) as server, \
                BridgeProcess(server.url, "--anomaly-log", cluster.url,
                              "--anomaly-stream", STREAM) as bridge:
            _post_nan(server, "before")
            assert _sequences(bridge, 1) == [1]

            cluster.nodes[0].kill()  # the first URL: where both connected
            _post_nan(server, "after")
            try:
                assert _sequences(bridge, 2) == [1, 2]
            except grpc.RpcError as exc:  # pragma: no cover - the report says why
                raise AssertionError(f"{exc}\n{bridge.log()[-3000:]}") from exc
            assert server.proc is not None and server.proc.poll() is None


def test_a_malformed_url_list_is_one_clear_line_at_start_up() -> None:
    for command in (["neural-heatmap-server"], ["neural-heatmap-bridge"]):
        done = subprocess.run(
            [str(REPO_ROOT / ".venv" / "bin" / command[0]), "--anomaly-log",
             "nats://127.0.0.1:4222,,nats://127.0.0.1:4223"],
            capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done
        assert "--anomaly-log" in done.stderr and "nats://host:port" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
