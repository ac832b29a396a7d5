"""The sharded shape (``--shard-log``) against a single server, and under a SIGKILL.

Real processes only: nats-server (one node, or a 3-node JetStream cluster), shard
servers and a plain single server given the same frames. Every per-model query must
answer the same on the model's owner as on the single server, anomalies included (as
a set per model: the global sequence interleaves partitions in publish order), and
every server's ``GetAnomalies`` holds every shard's anomalies, each once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import nats
import numpy as np
from neural_heatmap import IngestSummary, connect
from neural_heatmap_contract.partition import partition
from neural_heatmap_contract.routes import http
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

from tests.support.bridge_process import BridgeProcess
from tests.support.nats_process import NatsCluster, NatsProcess
from tests.support.server_process import ServerProcess
from tests.support.shards import (
    LEASE_SECONDS,
    frames_for,
    ingest,
    models_of,
    per_model_answers,
    request,
    shard_server,
)

MODELS = [f"model-{i}" for i in range(6)]
CALL_FRAMES = 12  # one step of every model's two layers per ingest call
TAKEOVER_BOUND = 2 * LEASE_SECONDS + LEASE_SECONDS / 3 + 20  # docs/deploy.md; +20 s margin


def _calls(frames: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [frames[i:i + CALL_FRAMES] for i in range(0, len(frames), CALL_FRAMES)]


def _wait_reflected(shards: list[ServerProcess], expected: Counter[str],
                    timeout: float) -> dict[str, ServerProcess]:
    """Wait until each model's owner holds all its accepted frames; the owners."""
    deadline = time.monotonic() + timeout
    while True:
        held = {server: models_of(server) for server in shards
                if server.proc is not None and server.proc.poll() is None}
        counts = {m: [(s, doc[m]["frames"]) for s, doc in held.items() if m in doc]
                  for m in expected}
        done = {m: found[0][0] for m, found in counts.items()
                if len(found) == 1 and found[0][1] == expected[m]}
        if len(done) == len(expected):
            return done
        assert time.monotonic() < deadline, (
            f"not reflected after {timeout} s: "
            f"{ {m: [n for _, n in found] for m, found in counts.items()} } "
            f"of {dict(expected)}\n" + "\n".join(_problems(s) for s in shards))
        time.sleep(0.2)


def _wait_metric(server: ServerProcess, line: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"{server.url}{http('Metrics').path}") as resp:
            text = resp.read().decode()
        if line in text:
            return
        assert time.monotonic() < deadline, [t for t in text.splitlines() if "shard" in t]
        time.sleep(0.2)


def _problems(server: ServerProcess) -> str:
    """The server's log lines above INFO (what a failure report needs)."""
    return "\n".join(line for line in server.log().splitlines()[-2000:]
                     if " INFO " not in line)[-3000:]


def _anomaly_keys(server: ServerProcess) -> list[tuple[Any, ...]]:
    status, doc = request(server, "GET", f"{http('GetAnomalies').path}?limit=10000")
    assert status == 200, doc
    return [(a["model_id"], a["layer"], a["anomaly_type"], a["metadata"]["step"])
            for a in doc["anomalies"]]


def _streamed_sequences(bridge: BridgeProcess, count: int) -> list[int]:
    """The first ``count`` sequences ``SubscribeAnomalies`` delivers from the start."""
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


def _poll_takeover(servers: list[ServerProcess], models: list[str], done: threading.Event,
                   seen: list[tuple[int, str | None, str | None]]) -> None:
    """Ask the servers for the models' statistics until ``done``: ``(status, error code,
    Retry-After)`` of each answer."""
    while not done.is_set():
        for server in servers:
            for model in models:
                url = f"{server.url}{http('GetTemporalStatistics').path}?model_id={model}"
                try:
                    with urllib.request.urlopen(url, timeout=30) as resp:
                        seen.append((resp.status, None, None))
                except urllib.error.HTTPError as exc:
                    code = json.loads(exc.read())["error"]["code"]
                    seen.append((exc.code, code, exc.headers.get("Retry-After")))
        time.sleep(0.05)


async def _ingest_over_grpc(bridge: BridgeProcess, model: str, steps: int) -> IngestSummary:
    client = await connect(bridge.target, connect_timeout=20.0)
    try:
        values = np.random.default_rng(3).normal(size=(steps, 8)).astype(np.float32)
        return await client.log_batch(model, "fc", values,
                                      timestamps=1.7e9 + np.arange(steps, dtype=np.float64),
                                      steps=list(range(steps)))
    finally:
        await client.disconnect()


async def _frames_leader(url: str) -> int:
    """Which node (``nh-<i>``) leads the frames stream now."""
    nc = await nats.connect(url.split(","))
    try:
        info = await nc.jetstream().stream_info("NH_FRAMES")
        assert info.cluster is not None and info.cluster.leader is not None
        return int(info.cluster.leader.rsplit("-", 1)[1])
    finally:
        await nc.close()


def _ingest_until_accepted(server: ServerProcess, call: list[dict[str, Any]],
                           timeout: float = 60) -> list[dict[str, Any]]:
    """Post ``call`` (one frame per layer, so frames = messages in order) until all of it
    is accepted, resending only what a 503 says was not; the frames accepted."""
    deadline = time.monotonic() + timeout
    rest = call
    while rest:
        status, doc = ingest(server, rest)
        if status == 200:
            return call
        assert status == 503 and time.monotonic() < deadline, doc
        rest = rest[doc["error"]["details"]["accepted_frames"]:]
        time.sleep(0.2)
    return call


@contextlib.contextmanager
def _reference(frames: list[dict[str, Any]]) -> Iterator[ServerProcess]:
    """One plain server given ``frames``: the answers the shards must give."""
    with ServerProcess(extra_args=["--anomaly-cooldown", "0"]) as single:
        for call in _calls(frames):
            assert ingest(single, call)[0] == 200
        yield single


def test_shards_answer_like_one_server() -> None:
    frames = frames_for(MODELS, range(120))
    assert len({partition(m) % 2 for m in MODELS}) == 2  # both shards own some
    with NatsProcess() as nats, _reference(frames) as single, \
            shard_server(nats.url, "a", "0/2") as a, \
            shard_server(nats.url, "b", "1/2") as b:
        for i, call in enumerate(_calls(frames)):
            status, doc = ingest((a, b)[i % 2], call)  # any server is an edge
            assert (status, doc) == (200, {"accepted": len(call)})
        owners = _wait_reflected([a, b], Counter(f["model_id"] for f in frames), 60)
        for server in (a, b):  # 64 partitions, half each once the leases settled
            _wait_metric(server, "nh_server_shard_partitions 32.0", 30)
        assert {partition(m) % 2 for m, o in owners.items() if o is a} == {0}
        assert {partition(m) % 2 for m, o in owners.items() if o is b} == {1}
        for model, owner in owners.items():
            assert per_model_answers(owner, model) == per_model_answers(single, model), model

        # Every server reads the one anomaly stream: all shards' anomalies, once each.
        expected = sorted(_anomaly_keys(single))
        assert len(expected) >= 3 * len(MODELS)
        deadline = time.monotonic() + 30
        while sorted(_anomaly_keys(a)) != expected and time.monotonic() < deadline:
            time.sleep(0.2)
        for server in (a, b):
            assert sorted(_anomaly_keys(server)) == expected
            status, doc = request(server, "GET", f"{http('GetAnomalies').path}?limit=10000")
            sequences = [x["sequence"] for x in doc["anomalies"]]
            assert sequences == list(range(1, len(expected) + 1))  # one global order

        # A bridge reading the stream streams every shard's anomalies in the one order.
        with BridgeProcess(a.url, "--anomaly-log", nats.url) as bridge:
            assert _streamed_sequences(bridge, len(expected)) == list(
                range(1, len(expected) + 1))
            # gRPC ingestion (bridge -> an edge -> the stream) reaches the model's owner.
            summary = asyncio.run(_ingest_over_grpc(bridge, "grpc-model", 40))
            assert (summary.frames_accepted, summary.frames_rejected) == (40, 0)
            _wait_reflected([a, b], Counter({"grpc-model": 40}), 60)

        # A layer's width is agreed cluster-wide: the other edge refuses a wrong one.
        wrong = dict(frames[0], values=[1.0, 2.0])
        status, doc = ingest(b if owners[wrong["model_id"]] is a else a, [wrong])
        assert status == 400 and doc["error"]["details"]["expected_units"] == 16, doc


def test_a_full_frames_stream_is_429_naming_what_was_accepted() -> None:
    with NatsProcess() as nats, shard_server(
            nats.url, "a", "0/1", "--shard-max-bytes", "20000") as a:
        # 2 frames of ~180 bytes per call, each call other steps (the same frames again
        # would be a duplicate JetStream drops: see the next test)
        statuses = [ingest(a, frames_for(["m"], range(i, i + 1))) for i in range(200)]
        refused = [doc for status, doc in statuses if status == 429]
        assert refused, statuses[-1]
        assert refused[0]["error"]["code"] == "overloaded"
        # a call's layers are published in order: the first may be in, then it is said
        assert all(doc["error"]["details"]["accepted_frames"] in (0, 1) for doc in refused)
        accepted = sum(doc["accepted"] for status, doc in statuses if status == 200) + sum(
            doc["error"]["details"]["accepted_frames"] for doc in refused)
        _wait_reflected([a], Counter({"m": accepted}), 30)  # every accepted frame is there


def test_frames_sent_again_are_stored_once() -> None:
    """A producer resending after a lost acknowledgement (a 503 during a NATS failover)
    must not double frames: each message's id is a hash of its subject and payload."""
    with NatsProcess() as nats, shard_server(nats.url, "a", "0/1") as a:
        call = frames_for(["m"], range(3))
        for _ in range(3):
            assert ingest(a, call) == (200, {"accepted": 6})
        ingest(a, frames_for(["m"], range(3, 4)))
        _wait_reflected([a], Counter({"m": 8}), 30)
        time.sleep(1)  # and no late copy arrives
        assert models_of(a)["m"]["frames"] == 8


def test_a_killed_shard_is_taken_over_and_nothing_is_lost_or_doubled() -> None:
    frames = frames_for(MODELS, range(160))
    calls = _calls(frames)
    args = ("--shard-replicas", "3")
    with NatsCluster(3) as cluster, _reference(frames) as single, \
            shard_server(cluster.url, "a", "0/2", *args) as a, \
            shard_server(cluster.url, "b", "1/2", *args) as b, \
            shard_server(cluster.url, "c", None, *args) as standby:
        accepted: Counter[str] = Counter()
        for call in calls[:len(calls) // 2]:
            assert ingest(a, call)[0] == 200
            accepted.update(f["model_id"] for f in call)
        owners = _wait_reflected([a, b, standby], accepted, 60)
        b_models = [m for m, o in owners.items() if o is b]
        assert b_models

        # SIGKILL b while the rest of the frames arrive (through a, an edge).
        killed = threading.Event()

        def kill_midway() -> None:
            time.sleep(0.5)
            b.kill()
            killed.set()

        killer = threading.Thread(target=kill_midway)
        seen: list[tuple[int, str | None, str | None]] = []
        polling = threading.Event()
        poller = threading.Thread(target=_poll_takeover, args=(
            [a, standby], b_models, polling, seen))
        poller.start()
        killer.start()
        for call in calls[len(calls) // 2:len(calls) * 3 // 4]:
            status, doc = ingest(a, call)
            assert status == 200, doc
            accepted.update(f["model_id"] for f in call)
        killer.join()
        assert killed.is_set()
        started = time.monotonic()
        _wait_reflected([a, standby], accepted, TAKEOVER_BOUND)
        print(f"all frames reflected {time.monotonic() - started:.1f} s after the "
              f"last ingest call")
        polling.set()
        poller.join()

        # SIGKILL the NATS node leading the frames stream; the rest of the frames
        # arrive through the election (a 503 says how many of a call got in).
        cluster.nodes[asyncio.run(_frames_leader(cluster.url))].kill()
        for call in calls[len(calls) * 3 // 4:]:
            accepted.update(f["model_id"] for f in _ingest_until_accepted(a, call))
        owners = _wait_reflected([a, standby], accepted, TAKEOVER_BOUND)
        # While a partition is taken over its models answer 503 with Retry-After
        # (never a half-replayed window); before, 404 on the servers not owning it.
        assert seen and {status for status, _, _ in seen} <= {200, 404, 503}, seen
        assert all(code == "unavailable" and retry for status, code, retry in seen
                   if status == 503), seen
        print(f"during the takeover: {Counter(status for status, _, _ in seen)}")
        assert all(owners[m] in (a, standby) for m in b_models)
        for model, owner in owners.items():
            assert per_model_answers(owner, model) == per_model_answers(single, model), \
                model
        expected = sorted(_anomaly_keys(single))
        deadline = time.monotonic() + 30
        while sorted(_anomaly_keys(a)) != expected and time.monotonic() < deadline:
            time.sleep(0.2)
        got = _anomaly_keys(a)
        assert len(got) == len(set(got)), "an anomaly was published twice"
        assert sorted(got) == expected
