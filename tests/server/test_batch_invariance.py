"""The same frames give the same anomalies and analytics however they are batched.

A real server (one for the module) receives the same generated history under
different splits into requests, JSON or binary, for fresh model ids; the
anomalies (type, layer, unit, step, score, severity, suppressed count, ...),
temporal patterns and statistics and the layer correlation must agree. The
planted tests check the numbers docs/server.md states against
``anomaly_reference`` (the documented rules written naively).
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server.anomaly_reference import Expected, expected_anomalies, spike_z
from tests.server.conftest import unique
from tests.support.server_process import ServerProcess

COOLDOWN = 0.1  # seconds of frame time: with frames 1/32 s apart, every 4th repeat passes
T0 = 1.7e9
DT = 1 / 32  # exact in binary, so frame times and their differences are exact
BINARY = "application/vnd.neural-heatmap.frames"


class Http:
    """A keep-alive HTTP client (thousands of small requests per test)."""

    def __init__(self, server: ServerProcess) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)

    def call(self, method: str, path: str, body: bytes | None = None,
             ctype: str = "application/json") -> Any:
        self.conn.request(method, path, body=body,
                          headers={"Content-Type": ctype} if body is not None else {})
        resp = self.conn.getresponse()
        payload = resp.read()
        assert resp.status == 200, (path, resp.status, payload[:500])
        return json.loads(payload)


@dataclass
class History:
    """Frames of one or more layers of one model, logged step by step (all layers per step)."""

    layers: dict[str, np.ndarray]  # layer -> (steps, units) float32

    @property
    def steps(self) -> int:
        return len(next(iter(self.layers.values())))

    def order(self) -> list[tuple[str, int]]:
        """(layer, step) in the order a training loop logs them."""
        return [(layer, i) for i in range(self.steps) for layer in self.layers]


def _binary(frames: np.ndarray, steps: list[int]) -> bytes:
    units = frames.shape[1]
    dtype = np.dtype([("timestamp", "<f8"), ("step", "<i8"), ("values", "<f4", (units,))])
    rec = np.zeros(len(steps), dtype=dtype)
    rec["timestamp"] = T0 + np.asarray(steps) * DT
    rec["step"] = steps
    rec["values"] = frames[steps]
    return rec.tobytes()


def send(client: Http, model: str, history: History, cuts: list[int],
         transports: list[str]) -> None:
    """Send the history in requests cut at ``cuts`` (indices into ``history.order()``)."""
    order = history.order()
    bounds = [0, *sorted(set(cuts)), len(order)]
    for k, (start, end) in enumerate(itertools.pairwise(bounds)):
        chunk = order[start:end]
        if not chunk:
            continue
        if transports[k % len(transports)] == "json":
            frames = [{"model_id": model, "layer_id": layer, "step": i,
                       "timestamp": T0 + i * DT,
                       "values": [float(v) for v in history.layers[layer][i]]}
                      for layer, i in chunk]
            doc = client.call("POST", "/api/activations", json.dumps({"frames": frames}).encode())
        else:  # the binary route takes one layer per request: each layer's part, in order
            accepted = 0
            for layer, frames_of in history.layers.items():
                steps = [i for name, i in chunk if name == layer]
                if steps:
                    accepted += client.call(
                        "POST", f"/api/activations?model_id={model}&layer_id={layer}"
                        f"&units={frames_of.shape[1]}", _binary(frames_of, steps),
                        BINARY)["accepted"]
            doc = {"accepted": accepted}
        assert doc == {"accepted": len(chunk)}


def anomalies(client: Http, model: str) -> list[dict[str, Any]]:
    """The model's anomalies without what differs between models (ids, sequence)."""
    found = client.call("GET", f"/api/anomalies?model_id={model}&limit=10000")["anomalies"]
    out = []
    for a in found:
        assert a["model_id"] == model
        a = {k: v for k, v in a.items() if k not in ("sequence", "model_id")}
        a["description"] = a["description"].replace(model, "M")
        out.append(a)
    return sorted(out, key=lambda a: (a["layer"], a["metadata"]["step"], a["anomaly_type"]))


def analytics(client: Http, model: str, history: History) -> dict[str, Any]:
    """Temporal patterns, temporal statistics and (two layers or more) layer correlation."""
    out = {"patterns": client.call("GET", f"/api/temporal?model_id={model}")["patterns"],
           "stats": client.call("GET", f"/api/temporal/stats?model_id={model}")["layers"]}
    if len(history.layers) > 1:
        corr = client.call("GET", f"/api/correlation?model_ids={model}")
        out["correlation"] = {"labels": [s.replace(model, "M") for s in corr["labels"]],
                              "matrix": corr["matrix"]}
    return strip_model(out, model)


def strip_model(doc: Any, model: str) -> Any:
    if isinstance(doc, dict):
        return {k: strip_model(v, model) for k, v in doc.items() if k != "model_id"}
    if isinstance(doc, list):
        return [strip_model(v, model) for v in doc]
    if isinstance(doc, str):
        return doc.replace(model, "M")
    return doc


def assert_same(a: Any, b: Any, where: str = "") -> None:
    """Equal, floats within 1e-9 relative (they should be bit for bit; this is the contract)."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, int | float) and isinstance(b, int | float), where
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (where, a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (where, a, b)
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), (where, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def as_expected(found: list[dict[str, Any]], layer: str) -> list[Expected]:
    return [Expected(a["metadata"]["step"], a["anomaly_type"], a["metadata"]["unit"], a["score"],
                     a["severity"], a["metadata"]["suppressed"])
            for a in found if a["layer"] == layer]


def assert_documented(found: list[dict[str, Any]], history: History) -> None:
    """Every layer's anomalies are exactly those ``anomaly_reference`` predicts."""
    for layer, frames in history.layers.items():
        steps = np.arange(len(frames))
        want = expected_anomalies(frames, steps, T0 + steps * DT, COOLDOWN)
        got = sorted(as_expected(found, layer), key=lambda e: (e.step, e.anomaly_type))
        want = sorted(want, key=lambda e: (e.step, e.anomaly_type))
        assert [(e.step, e.anomaly_type, e.unit, e.severity, e.suppressed) for e in got] == \
            [(e.step, e.anomaly_type, e.unit, e.severity, e.suppressed) for e in want], layer
        for g, w in zip(got, want, strict=True):
            assert g.score == pytest.approx(w.score, rel=1e-9), (layer, g, w)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    # --window 48: histories wrap the ring; the spike baseline (64 frames) does not depend on it.
    # Every example takes up to 4 fresh layers (2,000 examples in the long run).
    with ServerProcess(extra_args=["--anomaly-cooldown", str(COOLDOWN), "--window", "48",
                                   "--max-layers", "10000",
                                   "--correlation-interval", "60",
                                   "--temporal-interval", "60"]) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Http:
    return Http(server)


# ---- generated histories ----------------------------------------------------------------

def make_layer(rng: np.random.Generator, steps: int, units: int) -> np.ndarray:
    """Noise, a ramp or a constant, with planted incidents of every kind."""
    kind = rng.integers(4)
    level = rng.normal(0, 1)
    if kind == 0:
        frames = rng.normal(level, rng.uniform(0.01, 1), (steps, units))
    elif kind == 1:  # a ramp (or a slow drift with noise)
        slope = rng.normal(0, 0.5)
        frames = level + slope * np.arange(steps)[:, None] + rng.normal(
            0, rng.choice([0.0, 0.05]), (steps, units))
    elif kind == 2:  # within [-1, 1]: a tanh layer
        frames = np.tanh(rng.normal(0, 0.5, (steps, units)))
    else:
        frames = np.full((steps, units), level)
    frames = frames.astype(np.float32)
    for _ in range(rng.integers(0, 6)):
        at = int(rng.integers(steps))
        incident = rng.integers(6)
        if incident == 0:  # a spike of the whole layer
            frames[at] += np.float32(rng.choice([1, -1]) * 10 ** rng.uniform(-1, 2))
        elif incident == 1:  # NaN or inf in some units
            frames[at, rng.integers(units, size=rng.integers(1, units + 1))] = rng.choice(
                [np.nan, np.inf, -np.inf])
        elif incident == 2:  # units dead for a while
            dead = rng.integers(units, size=rng.integers(1, units + 1))
            frames[at:at + int(rng.integers(1, 20)), dead] = 0.0
        elif incident == 3:  # one unit explodes
            frames[at, rng.integers(units)] = np.float32(10 ** rng.uniform(1.5, 5))
        elif incident == 4:  # saturated tanh units
            frames[at] = np.clip(frames[at], -0.5, 0.5)
            frames[at, : rng.integers(1, units + 1)] = np.float32(0.995)
        else:  # clipped at a shared value
            frames[at, : rng.integers(1, units + 1)] = np.float32(6.0)
    return frames


@st.composite
def histories(draw: st.DrawFn) -> tuple[History, list[int], list[str], list[int], list[str]]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    steps = draw(st.integers(1, 100))
    count = draw(st.integers(1, 2))
    history = History({f"l{k}": make_layer(rng, steps, draw(st.sampled_from([1, 3, 8, 12])))
                       for k in range(count)})
    total = steps * count

    def split() -> list[int]:
        if draw(st.integers(0, 15)) == 0:  # now and then: one frame per request
            return list(range(1, total))
        return draw(st.lists(st.integers(1, max(1, total - 1)), max_size=10))

    transports = st.lists(st.sampled_from(["json", "binary"]), min_size=1, max_size=4)
    return history, split(), draw(transports), split(), draw(transports)


def check_invariance(client: Http, case: tuple[History, list[int], list[str], list[int],
                                                 list[str]]) -> None:
    history, cuts_a, via_a, cuts_b, via_b = case
    a, b = unique("inv-a"), unique("inv-b")
    send(client, a, history, cuts_a, via_a)
    send(client, b, history, cuts_b, via_b)
    found = anomalies(client, a)
    assert_same(found, anomalies(client, b), "anomalies")
    assert_same(analytics(client, a, history), analytics(client, b, history), "analytics")
    assert_documented(found, history)


@pytest.mark.timeout(900)  # about 70 s on a loaded 2-core machine
@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=histories())
def test_any_two_splits_give_the_same_answers(client: Http, case: Any) -> None:
    check_invariance(client, case)


@pytest.mark.long
@pytest.mark.timeout(3600)
@settings(max_examples=2000, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=histories())
def test_any_two_splits_give_the_same_answers_long(client: Http, case: Any) -> None:
    check_invariance(client, case)


# ---- a long backfill and planted signals -------------------------------------------------

def backfill_history() -> History:
    """2,000 steps of two layers (16 and 8 units) with every kind of incident."""
    rng = np.random.default_rng(22)
    relu = np.maximum(rng.normal(0.2, 0.1, (2000, 16)), 0).astype(np.float32)
    relu[300:340, :10] = 0.0  # 10 of 16 dead: medium, then repeats (cool-down)
    relu[900, 3] = np.nan
    relu[1200, 5] = 3e4  # exploding, critical
    relu[1500] += 4.0  # a spike of the layer
    relu[1700:] += np.linspace(0, 2, 300, dtype=np.float32)[:, None]  # a slow drift
    tanh = np.tanh(rng.normal(0, 0.3, (2000, 8))).astype(np.float32)
    tanh[600:610, :7] = 0.995  # saturated
    tanh[1000:] += np.minimum(np.arange(1000, dtype=np.float32) / 500, 0.2)[:, None]  # a ramp
    return History({"relu": relu, "tanh": tanh})


def test_a_2000_step_backfill_equals_streaming_and_the_documentation(client: Http) -> None:
    history = backfill_history()
    one, each, json_one = unique("backfill"), unique("stream"), unique("json")
    send(client, one, history, [], ["binary"])
    send(client, each, history, list(range(2, 4000, 2)), ["json"])  # a request per step
    send(client, json_one, history, [], ["json"])
    found = anomalies(client, one)
    assert_same(found, anomalies(client, each), "streamed")
    assert_same(found, anomalies(client, json_one), "json")
    assert_documented(found, history)
    kinds = {(a["layer"], a["anomaly_type"]) for a in found}
    assert kinds == {("relu", "dead_units"), ("relu", "non_finite"), ("relu", "exploding"),
                     ("relu", "spike"), ("tanh", "saturation"), ("tanh", "spike")}
    spikes = {(a["layer"], a["metadata"]["step"]): a["severity"] for a in found
              if a["anomaly_type"] == "spike"}
    # the exploding unit, the planted spike, the dead units' recovery; the saturated frames
    # lift the tanh layer's mean; neither the ramp (tanh) nor the drift (relu) counts
    assert {("relu", 1200), ("relu", 1500)} <= spikes.keys()
    assert spikes[("relu", 1500)] == "critical"
    assert all(step in (1200, 1500) or 340 <= step < 404 for layer, step in spikes
               if layer == "relu")
    assert all(600 <= step < 610 for layer, step in spikes if layer == "tanh")
    dead = [a for a in found if a["anomaly_type"] == "dead_units"]
    # dead from step 307 (8 frames) to 339; frames 1/32 s apart, 0.1 s cool-down: every 4th
    assert [a["metadata"]["step"] for a in dead] == list(range(307, 340, 4))
    assert [a["metadata"]["suppressed"] for a in dead] == [0] + [3] * 8
    assert all(a["score"] == 10 / 16 and a["severity"] == "medium" for a in dead)


def spike_layer(z: float) -> tuple[np.ndarray, float]:
    """64 noisy frames, then one whose activity lies ``z`` robust sigmas above their median."""
    rng = np.random.default_rng(int(z))
    base = rng.normal(1.0, 0.1, 64).astype(np.float32)
    median = float(np.median(base.astype(np.float64)))
    scale = 1.4826 * float(np.median(np.abs(base - median)))
    activity = np.append(base, np.float32(median + z * scale))
    return np.repeat(activity[:, None], 4, axis=1), median


@pytest.mark.parametrize(("z", "severity"), [(8, "low"), (12, "medium"), (25, "high"),
                                             (60, "critical")])
@pytest.mark.parametrize("split", ["one request", "per frame"])
def test_planted_spikes_get_the_documented_score_and_severity(
        client: Http, z: float, severity: str, split: str) -> None:
    frames, median = spike_layer(z)
    history = History({"l": frames})
    model = unique("spike")
    send(client, model, history, [] if split == "one request" else list(range(1, 65)),
         ["binary"])
    found = anomalies(client, model)
    assert [(a["anomaly_type"], a["metadata"]["step"], a["severity"]) for a in found] == \
        [("spike", 64, severity)]
    assert found[0]["score"] == pytest.approx(z, rel=1e-5)  # the float32 frame's rounding
    assert found[0]["score"] == pytest.approx(spike_z(frames.mean(axis=1).astype(float), 64),
                                              rel=1e-9)
    assert found[0]["metadata"]["median"] == pytest.approx(median, rel=1e-12)
    assert found[0]["metadata"]["baseline_frames"] == 64


@pytest.mark.parametrize("split", ["one request", "per frame", "ten per request"])
def test_ramps_and_drifts_raise_no_spike(client: Http, split: str) -> None:
    rng = np.random.default_rng(5)
    steps = np.arange(400)[:, None]
    noise = rng.normal(0, 0.1, (400, 4))
    ramp = (3.0 + 0.05 * steps + 0 * noise).astype(np.float32)  # steep, noise-free
    drift = (noise + 0.002 * steps).astype(np.float32)  # slow, noisy
    late = np.where(steps < 200, noise, noise + 0.004 * (steps - 200)).astype(np.float32)
    history = History({"ramp": ramp, "drift": drift, "late": late})
    for frames in history.layers.values():
        activity = frames.mean(axis=1, dtype=np.float64)
        documented = [spike_z(activity, t) or 0.0 for t in range(len(frames))]
        assert max(documented) < 6
    assert max(spike_z(ramp.mean(axis=1, dtype=np.float64), t) or 0.0
               for t in range(64, 400)) == pytest.approx(32.5 / (1.4826 * 16), rel=1e-3)
    cuts = {"one request": [], "per frame": list(range(1, 1200)),
            "ten per request": list(range(30, 1200, 30))}[split]
    model = unique("ramp")
    send(client, model, history, cuts, ["json", "binary"])
    assert [a for a in anomalies(client, model) if a["anomaly_type"] == "spike"] == []
