"""Measure ingestion in the sharded shape (docs/deploy.md, "Capacity"): 1 shard, then 2.

Starts a real nats-server and ``N`` shard servers (``tests.support`` launchers), posts
``--models x --layers`` layers of ``--units`` float32 units, ``--steps`` frames each, in
binary batches of ``--per-call`` frames from ``--clients`` threads spread over the
shards (each is an edge), and waits until every frame is applied by its partition's
owner. Prints, per shard count: the wall time until all were accepted and applied, the
frames per second, and the servers' CPU seconds per frame (edge publish + owner apply
and detection; read from ``/proc``, start-up excluded). On a shared machine the wall
times are noise; the CPU per frame is the number the capacity model uses.

Usage::

    PYTHONPATH=contract/python:sdk/python:server:bridge python scripts/measure_shard_ingest.py
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from neural_heatmap_contract.media import FRAMES_MEDIA_TYPE, frame_record_dtype  # noqa: E402
from neural_heatmap_contract.routes import http  # noqa: E402

from tests.support.nats_process import NatsProcess  # noqa: E402
from tests.support.server_process import ServerProcess  # noqa: E402
from tests.support.shards import LEASE_SECONDS, models_of, shard_server  # noqa: E402


def _cpu_seconds(server: ServerProcess) -> float:
    assert server.proc is not None
    fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _body(first_step: int, per_call: int, units: int) -> bytes:
    records = np.zeros(per_call, dtype=frame_record_dtype(units))
    records["timestamp"] = 1.7e9 + np.arange(first_step, first_step + per_call)
    records["step"] = np.arange(first_step, first_step + per_call)
    records["values"] = np.random.default_rng(first_step).normal(size=(per_call, units))
    return records.tobytes()


def _post(server: ServerProcess, model: str, layer: str, units: int, body: bytes) -> None:
    url = (f"{server.url}{http('IngestActivations').path}?model_id={model}&layer_id={layer}"
           f"&units={units}")
    request = urllib.request.Request(url, data=body,
                                     headers={"Content-Type": FRAMES_MEDIA_TYPE})
    with urllib.request.urlopen(request, timeout=60) as resp:
        assert resp.status == 200


def measure(shard_count: int, args: argparse.Namespace) -> str:
    """One run with ``shard_count`` shards; its line of the report."""
    with NatsProcess() as nats:
        shards = [shard_server(nats.url, f"s{i}", f"{i}/{shard_count}", "--log-level",
                               "WARNING").start() for i in range(shard_count)]
        try:
            time.sleep(3 * LEASE_SECONDS)  # the leases settle
            bodies = [_body(s, args.per_call, args.units)
                      for s in range(0, args.steps, args.per_call)]
            jobs = [(f"m{m}", f"l{layer}", body) for body in bodies
                    for m in range(args.models) for layer in range(args.layers)]
            cpu_before = sum(_cpu_seconds(s) for s in shards)
            started = time.monotonic()

            def client(k: int) -> None:
                for i, (model, layer, body) in enumerate(jobs):
                    if i % args.clients == k:
                        _post(shards[i % shard_count], model, layer, args.units, body)

            threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            accepted = time.monotonic() - started
            total = args.models * args.layers * len(bodies) * args.per_call
            while sum(e["frames"] for s in shards for e in models_of(s).values()) < total:
                time.sleep(0.05)
            applied = time.monotonic() - started
            cpu = sum(_cpu_seconds(s) for s in shards) - cpu_before
        finally:
            for server in shards:
                server.stop()
                server.cleanup()
    return (f"{shard_count} shard(s): {total} frames of {args.units} units accepted in "
            f"{accepted:.2f} s, applied in {applied:.2f} s ({total / applied:.0f} frames/s); "
            f"server CPU {cpu:.2f} s = {cpu / total * 1e3:.3f} ms per frame")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=16)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--units", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--per-call", type=int, default=15)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for shard_count in (1, 2):
        print(measure(shard_count, args), flush=True)


if __name__ == "__main__":
    main()
