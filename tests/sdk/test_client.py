"""Every client method against the real server and bridge, with values checked."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow.parquet as pq
import pytest
from neural_heatmap import (
    ActivationFrame,
    AnomalyType,
    CorrelationMatrix,
    ExportFormat,
    Granularity,
    InvalidArgumentError,
    LayoutConfig,
    NeuralHeatmapClient,
    NotFoundError,
    PatternType,
    Severity,
    VisualizationTheme,
    connect,
)
from neural_heatmap_contract.ids import ID_RULE
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.sdk.conftest import FRAMES, SINE_HZ, UNITS, Seed, nan_frame
from tests.support.bridge_process import BridgeProcess
from tests.support.server_process import ServerProcess


async def test_list_models(client: NeuralHeatmapClient, seeded: Seed) -> None:
    models = {m.model_id: m for m in await client.list_models(include_units=True)}
    m1 = models["m1"]
    layers = {layer.layer_id: layer for layer in m1.layers}
    assert set(layers) >= {"a", "b", "c", "d"}
    a = layers["a"]
    assert (a.units, a.width, a.height, a.frames) == (UNITS, 4, 4, FRAMES)
    assert [(u.index, u.x, u.y) for u in a.units_detail[:6]] == [
        (0, 0, 0), (1, 1, 0), (2, 2, 0), (3, 3, 0), (4, 0, 1), (5, 1, 1)]
    assert m1.first_timestamp == pytest.approx(seeded.timestamps[0])
    assert m1.last_timestamp == pytest.approx(seeded.timestamps[-1])
    bare = await client.list_models()
    assert all(not layer.units_detail for m in bare for layer in m.layers)


async def test_correlation_matrix_values_and_zero_copy(
    client: NeuralHeatmapClient, seeded: Seed
) -> None:
    cm = await client.get_correlation_matrix(model_ids=["m1"])
    assert isinstance(cm, CorrelationMatrix)
    assert cm.labels == ["m1/a", "m1/b", "m1/c", "m1/d"]
    m = cm.to_numpy()
    assert m.dtype == np.float32 and m.shape == (4, 4)
    assert m is cm.matrix and not m.flags.writeable and not m.flags.owndata  # a view on bytes
    assert m[0, 1] == pytest.approx(1.0, abs=1e-5)  # b = 2a + 1
    np.testing.assert_allclose(np.diag(m), 1.0, atol=1e-6)
    np.testing.assert_allclose(m, m.T, atol=1e-6)
    expected = np.corrcoef(np.stack([seeded.layers[k].mean(axis=1) for k in "abcd"]))
    np.testing.assert_allclose(m, expected, atol=1e-4)
    # the seed's List[List[float]] reading
    assert len(cm.matrix) == 4 and len(cm.matrix[0]) == 4
    assert cm.tolist()[0][1] == pytest.approx(1.0, abs=1e-5)
    assert abs(cm.timestamp - time.time()) < 60
    assert cm.metadata["granularity"] == "layer" and cm.metadata["samples"] == FRAMES


async def test_correlation_dataframe_is_labelled_both_ways(
    client: NeuralHeatmapClient, seeded: Seed
) -> None:
    df = await client.get_correlation_matrix(["m1"], ["a", "b", "c"], True)
    assert isinstance(df, pd.DataFrame)
    assert list(df.index) == list(df.columns) == ["m1/a", "m1/b", "m1/c"]
    assert df.loc["m1/a", "m1/b"] == pytest.approx(1.0, abs=1e-5)


async def test_unit_granularity(client: NeuralHeatmapClient, seeded: Seed) -> None:
    cm = await client.get_correlation_matrix(
        model_ids=["m1"], layer_ids=["a"], granularity=Granularity.UNIT
    )
    assert cm.labels == [f"m1/a/{i}" for i in range(UNITS)]
    assert cm.shape == (UNITS, UNITS)
    np.testing.assert_allclose(cm.to_numpy(), 1.0, atol=1e-4)  # every unit is sine + constant


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
async def test_download_correlation_matrix_round_trips(
    client: NeuralHeatmapClient, seeded: Seed, tmp_path: Path, suffix: str
) -> None:
    cm = await client.get_correlation_matrix(model_ids=["m1"])
    path = await client.download_correlation_matrix(tmp_path / f"corr{suffix}", ["m1"])
    if suffix == ".csv":
        df = pd.read_csv(path, index_col=0)
    elif suffix == ".parquet":
        df = pq.read_table(path).to_pandas()
        assert list(pd.read_parquet(path).index) == cm.labels
    else:
        doc = json.loads(path.read_text())
        assert set(doc) == {"matrix", "labels", "timestamp", "metadata"}
        df = pd.DataFrame(doc["matrix"], index=doc["labels"], columns=doc["labels"])
    assert list(df.index) == list(df.columns) == cm.labels
    np.testing.assert_allclose(df.to_numpy(), cm.to_numpy(), atol=1e-6)


async def test_download_rejects_unknown_suffix(client: NeuralHeatmapClient, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.csv"):
        await client.download_correlation_matrix(tmp_path / "corr.xlsx")


async def test_server_side_export_and_download(
    client: NeuralHeatmapClient, seeded: Seed, server: ServerProcess, tmp_path: Path
) -> None:
    result = await client.export_correlation_matrix("sdk-corr.csv", model_ids=["m1"])
    assert result.format is ExportFormat.CSV and result.filename == "sdk-corr.csv"
    assert result.bytes == sum(f.size for f in result.files) > 0
    assert (server.export_dir / "sdk-corr.csv").is_file()
    assert "sdk-corr.csv" in {f.name for f in await client.list_exports()}
    local = await client.download_export("sdk-corr.csv", tmp_path / "copy.csv")
    assert local.read_bytes() == (server.export_dir / "sdk-corr.csv").read_bytes()
    parquet = await client.export_correlation_matrix("sdk-corr.parquet", "parquet",
                                                     model_ids=["m1"])
    assert parquet.format == "parquet"
    with pytest.raises(NotFoundError):
        await client.download_export("no-such-file.csv", tmp_path / "x.csv")


async def test_temporal_patterns(client: NeuralHeatmapClient, seeded: Seed) -> None:
    patterns = await client.get_temporal_patterns("m1")
    periodic = {p.layer_id: p for p in patterns if p.pattern_type == "periodic"}
    assert {"a", "b"} <= set(periodic)
    assert periodic["a"].frequency == pytest.approx(SINE_HZ, rel=0.02)
    assert periodic["a"].amplitude == pytest.approx(0.4, rel=0.05)
    assert periodic["b"].amplitude == pytest.approx(0.8, rel=0.05)
    assert periodic["a"].metadata["model_id"] == "m1"
    assert periodic["a"].start_time == pytest.approx(seeded.timestamps[0])
    trends = [p for p in patterns if p.pattern_type is PatternType.TREND]
    assert "c" in {p.layer_id for p in trends}
    only = await client.get_temporal_patterns("m1", None, ["trend"], layer_id="c")
    assert only and all(p.pattern_type == "trend" and p.layer_id == "c" for p in only)
    assert only[0].metadata["slope"] > 0
    with pytest.raises(ValueError):
        await client.get_temporal_patterns(pattern_types=["zigzag"])


async def test_temporal_statistics(client: NeuralHeatmapClient, seeded: Seed) -> None:
    stats = await client.get_temporal_statistics("m1")
    assert stats.model_id == "m1"
    by_layer = {s.layer_id: s for s in stats.layers}
    a = by_layer["a"]
    series = seeded.layers["a"].mean(axis=1)
    assert a.samples == FRAMES
    assert a.mean == pytest.approx(float(series.mean()), abs=1e-5)
    assert a.max == pytest.approx(float(series.max()), abs=1e-5)
    assert a.dominant_frequency == pytest.approx(SINE_HZ, rel=0.02)
    assert by_layer["c"].trend_slope > 0
    assert stats.increasing_trends >= 1 and stats.periodic_layers >= 2


async def test_anomalies_query_and_download(
    client: NeuralHeatmapClient, seeded: Seed, tmp_path: Path
) -> None:
    model = "anom-query"
    for step in range(3):
        await client.log_activations(model, "fc", nan_frame(), step=step)
    found = await client.get_anomalies(model_id=model)
    assert len(found) == 3
    assert [a.sequence for a in found] == sorted(a.sequence for a in found)
    first = found[0]
    assert first.anomaly_type is AnomalyType.NON_FINITE and first.severity == "critical"
    assert first.location == {"x": 1.0, "y": 1.0}  # unit 5 on a 4-wide canvas
    assert (first.layer, first.model_id) == ("fc", model)
    assert first.score == pytest.approx(1 / UNITS)
    assert "non finite" in first.description.lower()
    assert first.metadata["step"] == 0
    assert await client.get_anomalies("critical", 2, model) == found[1:]
    assert await client.get_anomalies(severity=Severity.LOW, model_id=model) == []
    after = await client.get_anomalies(model_id=model, after_sequence=first.sequence, limit=1)
    assert [a.sequence for a in after] == [found[1].sequence]
    page = await client.get_anomaly_page(model_id=model, min_severity="high")
    assert page.last_sequence >= found[-1].sequence and len(page.anomalies) == 3
    other = "anom-query-2"
    await client.log_activations(other, "fc", nan_frame(), step=0)
    both = await client.get_anomalies(model_id=[model, other], limit=1000)
    assert [a.model_id for a in both] == [model] * 3 + [other]

    csv = await client.download_anomalies(tmp_path / "a.csv", "critical", 1000)
    df = pd.read_csv(csv)
    mine = df[df.model_id == model]
    assert list(mine.sequence) == [a.sequence for a in found]
    assert set(mine.severity) == {"critical"} and list(mine.location_x) == [1.0] * 3
    parquet = await client.download_anomalies(tmp_path / "a.parquet", limit=1000)
    assert model in set(pq.read_table(parquet).column("model_id").to_pylist())
    doc = json.loads((await client.download_anomalies(tmp_path / "a.json")).read_text())
    assert {a["sequence"] for a in doc["anomalies"]} >= {a.sequence for a in found}


async def test_filter_round_trip(client: NeuralHeatmapClient, seeded: Seed) -> None:
    now_ms = time.time() * 1000
    flt = await client.set_filter(
        model_ids=["m1"], layer_ids=["a", "b"], intensity_range=(0.0, 2.0),
        spatial_bounds={"min_x": 0, "min_y": 0, "max_x": 3, "max_y": 3},
        time_range=(now_ms - 3_600_000, now_ms + 60_000),
    )
    assert flt.model_ids == ["m1"] and flt.layer_ids == ["a", "b"]
    assert flt.intensity_range == (0.0, 2.0)
    assert flt.spatial_bounds == {"min_x": 0, "min_y": 0, "max_x": 3, "max_y": 3}
    assert flt.time_range is not None
    assert flt.time_range[0] == pytest.approx(now_ms - 3_600_000, abs=1)
    assert await client.get_filter() == flt
    # queries follow the filter only when they ask
    cm = await client.get_correlation_matrix(use_view_filter=True)
    assert cm.labels == ["m1/a", "m1/b"]
    assert {"m1/c", "m2/a"} <= set((await client.get_correlation_matrix()).labels)
    await client.clear_filter()
    assert (await client.get_filter()).is_empty
    with pytest.raises(InvalidArgumentError) as info:
        await client.set_filter(intensity_range=(5.0, 1.0))
    assert info.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.reason and info.value.details


async def test_theme(client: NeuralHeatmapClient) -> None:
    for theme in (VisualizationTheme.HOLOGRAPHIC, "contour", "THERMAL"):
        settings = await client.set_theme(theme)
        assert settings.theme == VisualizationTheme.parse(theme)
        assert (await client.get_theme()).theme == settings.theme
    custom = await client.set_theme("custom", custom_colors=["#000000", "#ff0000"])
    assert custom.custom_colors == ["#000000", "#ff0000"]
    with pytest.raises(ValueError):
        await client.set_theme("sepia")
    await client.set_theme(VisualizationTheme.THERMAL)


async def test_layout(client: NeuralHeatmapClient) -> None:
    layout = {
        "panel_positions": {"heatmap": {"x": 0, "y": 0}, "graph": {"x": 10, "y": 5}},
        "panel_sizes": {"heatmap": {"width": 640, "height": 480}},
        "visibility": {"heatmap": True, "graph": False},
        "z_order": ["graph", "heatmap"],
    }
    got = await client.set_layout(layout)
    assert got == LayoutConfig.from_dict(layout)
    assert await client.get_layout() == got
    cfg = LayoutConfig(z_order=["heatmap"], visibility={"heatmap": True})
    assert (await client.set_layout(cfg)).z_order == ["heatmap"]
    assert (await client.get_layout()).panel_positions == {}


async def test_compare_models(client: NeuralHeatmapClient, seeded: Seed) -> None:
    cmp = await client.compare_models(["m1", "m2"])
    assert cmp.model_ids == ["m1", "m2"]
    sim = cmp.similarity_matrix
    assert sim.shape == (2, 2) and sim.dtype == np.float64
    np.testing.assert_allclose(np.diag(sim), 1.0, atol=1e-6)
    assert sim[0, 1] == pytest.approx(sim[1, 0])
    assert 0.0 < sim[0, 1] <= 1.0
    # m2/a is a copy of m1/a: their linear CKA is 1.0
    cka = {(s.model_a, s.layer_a, s.model_b, s.layer_b): s.cka for s in cmp.layer_similarity}
    pair = cka.get(("m1", "a", "m2", "a"), cka.get(("m2", "a", "m1", "a")))
    assert pair == pytest.approx(1.0, abs=1e-4)
    assert cmp.steps == FRAMES
    assert set(cmp.metrics) >= {"mean_activation", "sparsity"}
    assert set(cmp.metrics["mean_activation"]) == {"m1", "m2"}
    assert any(s.model_a == "m1" and s.model_b == "m2" for s in cmp.layer_similarity)
    df = cmp.to_dataframe()
    assert list(df.index) == ["m1", "m2"]
    only = await client.compare_models(["m1", "m2"], ["sparsity"])
    assert set(only.metrics) == {"sparsity"}
    with pytest.raises(NotFoundError) as info:
        await client.compare_models(["m1", "no-such-model"])
    assert info.value.reason is not None and "no-such-model" in info.value.message


async def test_ingestion_forms_and_rejections(client: NeuralHeatmapClient) -> None:
    values = np.random.default_rng(1).normal(size=(50, 8)).astype(np.float32)
    summary = await client.log_batch("ingest", "l1", values, steps=np.arange(50))
    assert (summary.frames_accepted, summary.frames_rejected, summary.frames_sent) == (50, 0, 50)
    frames = [ActivationFrame("ingest", "l2", np.ones(4) * i, timestamp=time.time(), step=i)
              for i in range(5)]
    assert (await client.log_batch(frames)).frames_accepted == 5
    one = await client.log_activations("ingest", "l2", [0.5, 0.25, 0.125, 0.0], step=9)
    assert one.frames_accepted == 1
    models = {m.model_id: m for m in await client.list_models()}
    layers = {layer.layer_id: layer for layer in models["ingest"].layers}
    assert layers["l1"].frames == 50 and layers["l2"].frames == 6
    # many frames per message: 3 MiB of activations travel in a few messages
    big = np.zeros((96, 8192), dtype=np.float32)
    summary = await client.log_batch("ingest", "big", big)
    assert summary.frames_accepted == 96 and 1 < summary.messages_sent < 96
    # a frame of the wrong length is rejected, with a reason
    bad = await client.log_batch([ActivationFrame("ingest", "l1", np.ones(3))])
    assert bad.frames_accepted == 0 or bad.frames_rejected == 1
    if bad.frames_rejected:
        assert bad.rejections[0].code and bad.rejections[0].layer_id == "l1"


async def test_large_matrix_needs_raised_message_limit(client: NeuralHeatmapClient) -> None:
    """A 1100-unit correlation matrix is 4.8 MiB: over gRPC's 4 MiB default."""
    units = 1100
    rng = np.random.default_rng(3)
    await client.log_batch("wide", "fc", rng.normal(size=(24, units)).astype(np.float32))
    cm = await client.get_correlation_matrix(["wide"], ["fc"], granularity="unit", timeout=60)
    assert cm.shape == (units, units)
    np.testing.assert_allclose(np.diag(cm.to_numpy()), 1.0, atol=1e-4)


def _pixels(png: bytes) -> npt.NDArray[np.uint8]:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"))


def _read_run(run: Path) -> dict[str, dict[str, list[tuple[Any, ...]]]]:
    """Every tag of a TensorBoard run and its series, as TensorBoard itself reads them."""
    acc = EventAccumulator(
        str(run), size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0}
    )
    acc.Reload()
    tags = acc.Tags()
    return {
        "scalars": {t: [(e.step, e.wall_time, e.value) for e in acc.Scalars(t)]
                    for t in tags["scalars"]},
        "histograms": {t: [(e.step, e.histogram_value.num, e.histogram_value.sum)
                           for e in acc.Histograms(t)] for t in tags["histograms"]},
        "images": {t: [(e.step, e.wall_time, e.width, e.height) for e in acc.Images(t)]
                   for t in tags["images"]},
        "tensors": {t: [(e.step, e.wall_time) for e in acc.Tensors(t)] for t in tags["tensors"]},
    }


async def test_tensorboard_runs_are_one_writer(
    client: NeuralHeatmapClient, seeded: Seed, server: ServerProcess, tmp_path: Path
) -> None:
    """The SDK's runs and the server's export have the same tags and series, with values.

    The matrix image is the server's rendering of the matrix in the stored theme.
    """
    await client.log_activations("anom-tb", "fc", nan_frame(), step=7)
    before = await client.get_theme()
    await client.set_theme(VisualizationTheme.PLASMA)
    try:
        local = await client.export_tensorboard(tmp_path / "tb", "run1")
        await client.export_correlation_matrix("server-run", ExportFormat.TENSORBOARD)
        together = await client.export_all(tmp_path / "all", formats=["tensorboard"])
        rendered = await client.render_correlation()
    finally:
        await client.set_theme(before.theme, custom_colors=before.custom_colors or None)
    assert local == tmp_path / "tb" / "run1"
    images = EventAccumulator(str(local), size_guidance={"images": 0})
    images.Reload()
    png = images.Images("correlation/matrix")[0].encoded_image_string
    assert rendered.theme == VisualizationTheme.PLASMA
    np.testing.assert_array_equal(_pixels(png), _pixels(rendered))
    run = _read_run(local)
    assert run == _read_run(server.export_dir / "server-run")
    assert run == _read_run(together[ExportFormat.TENSORBOARD][0])

    means = run["scalars"]["activations/m1/a/mean"]
    assert [step for step, _, _ in means] == list(range(FRAMES))
    np.testing.assert_allclose([v for _, _, v in means], seeded.layers["a"].mean(axis=1),
                               atol=1e-5)
    assert [w for _, w, _ in means] == pytest.approx(seeded.timestamps.tolist())
    assert run["histograms"]["activations/m1/d/histogram"][0][:2] == (FRAMES - 1, UNITS)
    (step, _, confidence), = run["scalars"]["patterns/m1/a/periodic/confidence"]
    assert step == FRAMES - 1 and confidence > 0.5
    assert "patterns/m1/c/trend/confidence" in run["scalars"]
    assert [s for s, _, _ in run["scalars"]["anomalies/anom-tb/fc/non_finite"]] == [7]
    assert run["scalars"]["anomalies/count/critical"][0][2] >= 1
    with pytest.raises(InvalidArgumentError) as bad:  # the run name names the server's export
        await client.export_tensorboard(tmp_path / "tb", "../escape")
    assert "filename" in str(bad.value)
    (_, _, width, height), = run["images"]["correlation/matrix"]
    assert (width, height) == (rendered.width, rendered.height)


async def test_export_all(client: NeuralHeatmapClient, seeded: Seed, tmp_path: Path) -> None:
    written = await client.export_all(tmp_path / "all")
    assert set(written) == {ExportFormat.CSV, ExportFormat.JSON, ExportFormat.PARQUET,
                            ExportFormat.TENSORBOARD}
    for paths in written.values():
        assert all(p.exists() for p in paths)
    df = pd.read_csv(tmp_path / "all" / "correlation_matrix.csv", index_col=0)
    assert "m1/a" in df.index and list(df.index) == list(df.columns)
    patterns = json.loads((tmp_path / "all" / "temporal_patterns.json").read_text())["patterns"]
    assert any(p["pattern_type"] == "periodic" and p["layer_id"] == "a" for p in patterns)
    assert pq.read_table(tmp_path / "all" / "anomalies.parquet").num_rows >= 0
    only = await client.export_all(tmp_path / "json-only", formats=["json"])
    assert list(only) == [ExportFormat.JSON]


async def test_bearer_token_and_metadata(server: ServerProcess) -> None:
    with BridgeProcess(server.url, "--token", "s3cret", "--metrics-port", "0") as secured:
        async with await connect(secured.target) as anonymous:
            with pytest.raises(Exception) as info:
                await anonymous.get_theme(retry=None)
            assert info.value.code is grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
        async with await connect(secured.target, token="s3cret") as authed:
            theme = await authed.get_theme(metadata=[("x-request-id", "sdk-test")], timeout=5)
            assert theme.theme in set(VisualizationTheme)


async def test_auto_connect_and_lazy_channel(bridge: BridgeProcess) -> None:
    c = NeuralHeatmapClient(bridge.target, auto_connect=True)
    assert c.is_connected
    await c.get_layout()
    await c.disconnect()
    assert not c.is_connected
    await c.get_layout()  # reopens lazily
    await c.disconnect()


async def test_a_model_named_with_a_comma_is_rejected_naming_the_id_rule(
    client: NeuralHeatmapClient, seeded: Seed
) -> None:
    name = "m1,m2"  # a comma list would split it into m1 and m2
    summary = await client.log_batch(name, "a", seeded.layers["a"][:5],
                                     timestamps=seeded.timestamps[:5])
    assert summary.frames_accepted == 0 and summary.frames_rejected == 5
    assert {r.code for r in summary.rejections} == {"invalid_argument"}
    assert "model_id contains ','" in summary.rejections[0].message
    assert ID_RULE in summary.rejections[0].message
