"""What a user's code looks like; ``test_typing.py`` checks it with ``mypy --strict``.

Never imported by the tests: only type-checked.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
from neural_heatmap import (
    ActivationFrame,
    Anomaly,
    AnomalyUpdate,
    CorrelationMatrix,
    ExportFormat,
    IngestSummary,
    LayoutConfig,
    NeuralHeatmapClient,
    NeuralHeatmapError,
    NeuralHeatmapWebSocketClient,
    NotFoundError,
    Retry,
    Severity,
    TemporalPattern,
    Update,
    VisualizationTheme,
    connect,
)


async def main(target: str) -> None:
    async with await connect(target, token="secret", default_timeout=5.0) as client:
        matrix: CorrelationMatrix = await client.get_correlation_matrix(model_ids=["m"])
        array: npt.NDArray[np.float32] = matrix.to_numpy()
        rows: int = len(matrix.matrix)
        first: float = float(matrix.matrix[0][0]) if rows else 0.0
        df: pd.DataFrame = await client.get_correlation_matrix(as_dataframe=True)
        labels: list[str] = matrix.labels
        print(array.shape, first, df.shape, labels, matrix.timestamp, matrix.metadata)

        patterns: list[TemporalPattern] = await client.get_temporal_patterns(
            "m", 10_000, ["periodic"], timeout=2.0
        )
        periodic = [p for p in patterns if p.pattern_type == "periodic"]
        freqs: list[float | None] = [p.frequency for p in periodic]

        anomalies: list[Anomaly] = await client.get_anomalies(
            severity=Severity.CRITICAL, limit=10, after_sequence=0, retry=Retry(initial=0.2)
        )
        worst: int = max((a.sequence for a in anomalies), default=0)

        await client.set_filter(layer_ids=["layer1", "layer2"], intensity_range=(0.0, 1.0))
        await client.set_theme(VisualizationTheme.PLASMA)
        await client.set_theme("thermal", metadata=[("x-request-id", "abc")])
        layout: LayoutConfig = await client.set_layout({"z_order": ["a", "b"]})
        await client.export_correlation_matrix("c.csv", ExportFormat.CSV)

        values = np.zeros((4, 8), dtype=np.float32)
        summary: IngestSummary = await client.log_batch("m", "fc1", values)
        summary = await client.log_batch([ActivationFrame("m", "fc1", values[0], step=3)])
        accepted: int = summary.frames_accepted

        await client.subscribe_anomalies()
        async for update in client.stream_updates():
            if isinstance(update, AnomalyUpdate) and update.severity == "critical":
                print(update.description, update.anomalies[0].sequence)
            break
        print(freqs, worst, layout.z_order, accepted)

    try:
        await NeuralHeatmapClient(target).get_theme()
    except NotFoundError as exc:
        print(exc.reason, exc.details)
    except NeuralHeatmapError as exc:
        print(exc.code, exc.message)

    ws = NeuralHeatmapWebSocketClient(target, reconnect_delay=0.5, max_retries=3)
    await ws.connect()
    await ws.subscribe_anomalies()

    def on_anomaly(update: Update) -> None:
        print(update.timestamp)

    ws.on("anomaly_update", on_anomaly)
    async for item in ws.listen():
        print(item)
        break
    ws.off("anomaly_update")
    await ws.disconnect()
