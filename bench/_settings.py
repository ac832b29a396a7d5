"""Sizes, durations and repetitions for a full run and for ``--quick``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Settings:
    quick: bool = False
    reps: int = 5                       # repetitions of every side-by-side comparison
    # unary
    unary_requests: int = 400           # sequential requests per variant per repetition
    unary_seconds: float = 4.0          # ghz / hey duration per repetition
    unary_concurrency: int = 32
    # matrix
    matrix_sizes: list[int] = field(default_factory=lambda: [512, 1024, 2048])
    matrix_reps: int = 3
    matrix_steps: int = 64
    # fan-out
    fanout_sizes: list[int] = field(default_factory=lambda: [1000, 2000, 5000])
    fanout_seconds: float = 10.0
    fanout_rate: float = 20.0
    fanout_reps: int = 2
    fanout_per_proc: int = 500          # subscribers per client process
    fanout_per_channel: int = 100       # subscribers per gRPC channel (HTTP/2 connection)
    cluster_subscribers: int = 1000     # the cluster case's streams (both setups)
    # ingest
    ingest_frames: int = 50000
    ingest_units: int = 1024
    ingest_layers: int = 4
    ingest_grpc_batch: int = 64         # frames per IngestActivationsRequest message
    ingest_http_batch: int = 256        # frames per binary POST
    ingest_reps: int = 3
    # analytics
    analytics_series: list[int] = field(default_factory=lambda: [64, 256, 1024])
    analytics_windows: list[int] = field(default_factory=lambda: [128, 512, 1024])
    analytics_reps: int = 5
    # connect (the web port next to gRPC)
    connect_catchup: int = 2000         # anomalies a catch-up stream reads from sequence 0
    connect_live_events: int = 100      # live anomalies timed per repetition
    # torch (watch overhead)
    torch_steps: int = 200              # timed training steps per variant per repetition
    torch_warmup: int = 20
    torch_reps: int = 5
    out: Path = Path("bench/results")

    @classmethod
    def quick_settings(cls) -> Settings:
        """Small enough to finish in well under two minutes, large enough to fill every row."""
        return cls(
            quick=True, reps=2,
            unary_requests=60, unary_seconds=1.0,
            matrix_sizes=[128, 256], matrix_reps=2, matrix_steps=32,
            fanout_sizes=[1, 10, 100], fanout_seconds=3.0, fanout_reps=1,
            cluster_subscribers=100,
            ingest_frames=4096, ingest_reps=2,
            analytics_series=[64, 256], analytics_windows=[128, 256], analytics_reps=2,
            torch_steps=50, torch_warmup=5, torch_reps=3,
            connect_catchup=300, connect_live_events=20,
        )

    @classmethod
    def tiny_settings(cls) -> Settings:
        """Smallest sizes that still fill every row (the smoke test); numbers mean little."""
        return cls(
            quick=True, reps=2,
            unary_requests=20, unary_seconds=0.5,
            matrix_sizes=[32, 64], matrix_reps=2, matrix_steps=16,
            fanout_sizes=[1, 5], fanout_seconds=1.0, fanout_reps=1,
            cluster_subscribers=5,
            ingest_frames=256, ingest_grpc_batch=32, ingest_http_batch=64, ingest_reps=2,
            analytics_series=[16, 32], analytics_windows=[32, 64], analytics_reps=2,
            torch_steps=5, torch_warmup=2, torch_reps=2,
            connect_catchup=30, connect_live_events=5,
        )

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["out"] = str(self.out)
        return d
