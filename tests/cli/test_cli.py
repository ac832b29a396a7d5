"""``neural-heatmap`` against a real server and bridge: every command, its output, its errors.

The process-level paths (the real entry point, connection and token errors, an
unwritable ``--out``, ``--follow`` with Ctrl-C, ``serve``) run the command as a
separate process; the rest call the same ``main`` in-process against the same
live services (tests/cli/runner.py).
"""

from __future__ import annotations

import json
import queue
import signal
import threading
import time
from pathlib import Path

import grpc
import pandas as pd
import pytest
from neural_heatmap import Anomaly, Severity
from neural_heatmap_cli._output import SEVERITY_STYLES
from neural_heatmap_cli._tables import anomaly_line
from PIL import Image

from tests.cli.conftest import TOKEN, Seeded, post_nan_frames
from tests.cli.runner import (
    SERVE_PATH,
    assert_one_line_error,
    invoke,
    invoke_json,
    run_cli,
    start_cli,
)
from tests.support._process import free_port
from tests.support.bridge_process import BridgeProcess
from tests.support.pki import make_pki
from tests.support.server_process import ServerProcess

EXIT_LOCAL, EXIT_USAGE, EXIT_CONNECTION, EXIT_AUTH, EXIT_SERVER = 1, 2, 3, 4, 5


def at(bridge: BridgeProcess) -> list[str]:
    return ["--target", bridge.target]


# ---------------------------------------------------------------- status and models


def test_status_shows_both_hops_models_and_the_log_head(
    bridge: BridgeProcess, seeded: Seeded
) -> None:
    report = invoke_json("status", "--head", "1", *at(bridge))
    assert (report["bridge"], report["server"]) == ("up", "up")
    models = {m["model_id"]: [layer["layer_id"] for layer in m["layers"]]
              for m in report["models"]}
    assert models["m1"] == ["a", "b"] and models["m2"] == ["a"]
    log = report["anomalies"]
    assert log["last_sequence"] >= seeded.anomaly_sequences[-1]
    assert len(log["newest"]) == 1 and log["newest"][0]["sequence"] == log["last_sequence"]

    table = run_cli("status", *at(bridge))  # the real entry point, as after `make run`
    assert table.returncode == 0, table.stderr
    assert "server  (behind the bridge)  up" in table.stdout and "m2" in table.stdout


def test_status_names_the_hop_that_is_down(server: ServerProcess) -> None:
    with BridgeProcess(f"http://127.0.0.1:{free_port()}") as orphan:  # no server behind it
        done = run_cli("status", "--json", *at(orphan))
    assert_one_line_error(done, EXIT_CONNECTION, "server behind it", orphan.target)
    assert json.loads(done.stdout) == {"target": orphan.target, "bridge": "up", "server": "down"}


def test_no_bridge_running_is_a_connection_error() -> None:
    target = f"127.0.0.1:{free_port()}"
    done = run_cli("models", "--target", target, "--connect-timeout", "0.5")
    assert_one_line_error(done, EXIT_CONNECTION, target, "neural-heatmap serve")


def test_a_wrong_or_missing_token_is_refused_and_the_right_one_works(
    auth_bridge: BridgeProcess, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = run_cli("models", "--token", "nope", *at(auth_bridge))
    assert_one_line_error(wrong, EXIT_AUTH, "refused", "--token")
    missing = invoke("status", *at(auth_bridge))  # health answers without a token, models do not
    assert_one_line_error(missing, EXIT_AUTH, "NEURAL_HEATMAP_TOKEN")
    monkeypatch.setenv("NEURAL_HEATMAP_TOKEN", TOKEN)
    models = invoke_json("models", *at(auth_bridge))
    assert {m["model_id"] for m in models} >= {"m1", "m2"}


def test_mutual_tls_with_the_certificate_flags(
    server: ServerProcess, seeded: Seeded, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    creds = grpc.ssl_channel_credentials((pki / "ca.pem").read_bytes(),
                                         (pki / "client.key").read_bytes(),
                                         (pki / "client.pem").read_bytes())
    with BridgeProcess(server.url, "--tls-cert", str(pki / "server.pem"), "--tls-key",
                       str(pki / "server.key"), "--tls-client-ca", str(pki / "ca.pem"),
                       secure=creds) as tls_bridge:
        trust = ["--tls", "--ca-cert", str(pki / "ca.pem"), *at(tls_bridge)]
        report = invoke_json("status", *trust, "--client-cert", str(pki / "client.pem"),
                             "--client-key", str(pki / "client.key"))
        assert report["server"] == "up" and report["models"]
        anonymous = invoke("status", *trust, "--connect-timeout", "1")  # no client certificate
        assert_one_line_error(anonymous, EXIT_CONNECTION, tls_bridge.target)


def test_target_from_the_environment(
    bridge: BridgeProcess, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEURAL_HEATMAP_TARGET", bridge.target)
    models = invoke_json("models")
    m1 = next(m for m in models if m["model_id"] == "m1")
    assert [(layer["units"], layer["frames"]) for layer in m1["layers"]] == [(8, 200), (8, 200)]


# ---------------------------------------------------------------- analytics


def test_matrix_as_json_and_as_a_table(bridge: BridgeProcess, seeded: Seeded) -> None:
    doc = invoke_json("matrix", "-m", "m1", *at(bridge))
    assert doc["labels"] == ["m1/a", "m1/b"]
    assert doc["matrix"][0][1] == pytest.approx(1.0, abs=1e-4)
    table = invoke("matrix", "-m", "m1", "-m", "m2", *at(bridge))
    assert table.returncode == 0, table.stderr
    assert "m1/b" in table.stdout and "+1.00" in table.stdout


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_matrix_out_writes_each_format(
    bridge: BridgeProcess, seeded: Seeded, tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"nested/matrix{suffix}"
    assert invoke_json("matrix", "-m", "m1", "--out", str(path), *at(bridge)) == {"path": str(path)}
    if suffix == ".json":
        doc = json.loads(path.read_text())
        labels, value = doc["labels"], doc["matrix"][0][1]
    else:
        frame = pd.read_csv(path, index_col=0) if suffix == ".csv" else pd.read_parquet(path)
        labels, value = list(frame.columns), frame.loc["m1/a", "m1/b"]
    assert labels == ["m1/a", "m1/b"] and value == pytest.approx(1.0, abs=1e-4)


def test_matrix_out_to_an_unwritable_place_is_a_local_error(
    bridge: BridgeProcess, seeded: Seeded, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = invoke("matrix", "--out", str(blocker / "m.csv"), *at(bridge))
    assert_one_line_error(done, EXIT_LOCAL, str(blocker))


def test_patterns_find_the_sine(bridge: BridgeProcess, seeded: Seeded) -> None:
    found = invoke_json("patterns", "-m", "m1", "-l", "a", "--type", "periodic", *at(bridge))
    assert found and {(p["model_id"], p["layer_id"], p["pattern_type"]) for p in found} == {
        ("m1", "a", "periodic")}
    assert found[0]["frequency"] == pytest.approx(0.5, rel=0.05)
    table = invoke("patterns", "-m", "m1", *at(bridge))
    assert table.returncode == 0 and "m1/a" in table.stdout and "periodic" in table.stdout


def test_unknown_model_is_a_server_error(bridge: BridgeProcess, seeded: Seeded) -> None:
    done = invoke("matrix", "-m", "no-such-model", *at(bridge))
    assert_one_line_error(done, EXIT_SERVER, "no-such-model", "neural-heatmap models")


def test_anomalies_table_and_filters(bridge: BridgeProcess, seeded: Seeded) -> None:
    doc = invoke_json("anomalies", "--severity", "CRITICAL", "-m", "anom", *at(bridge))
    assert [a["sequence"] for a in doc["anomalies"]] == seeded.anomaly_sequences
    assert {(a["severity"], a["anomaly_type"]) for a in doc["anomalies"]} == {
        ("critical", "non_finite")}
    low = invoke_json("anomalies", "--severity", "low", "-m", "anom", *at(bridge))
    assert low["anomalies"] == []
    table = invoke("anomalies", "-n", "1", *at(bridge))  # 80 columns: severities shortened
    assert table.returncode == 0 and "crit " in table.stdout and "anom/x" in table.stdout
    wide = invoke("anomalies", "-n", "1", "--wide", *at(bridge))
    assert wide.returncode == 0 and "critical" in wide.stdout and "Critical" in wide.stdout


# ---------------------------------------------------------------- view state


def test_theme_layout_and_filter_are_shown_and_set(bridge: BridgeProcess, tmp_path: Path) -> None:
    assert invoke_json("theme", "PLASMA", *at(bridge)) == {"theme": "plasma", "custom_colors": []}
    assert invoke_json("theme", *at(bridge))["theme"] == "plasma"
    custom = invoke_json("theme", "custom", "--color", "#000000", "--color", "#ff8800", *at(bridge))
    assert custom == {"theme": "custom", "custom_colors": ["#000000", "#ff8800"]}
    shown = invoke("theme", *at(bridge))
    assert shown.stdout.strip() == "theme  custom (#000000, #ff8800)"

    layout = {"panel_positions": {"heatmap": {"x": 0.0, "y": 10.0}},
              "panel_sizes": {"heatmap": {"width": 640.0, "height": 480.0}},
              "visibility": {"heatmap": True}, "z_order": ["heatmap"]}
    (tmp_path / "layout.json").write_text(json.dumps(layout))
    assert invoke_json("layout", "--set", str(tmp_path / "layout.json"), *at(bridge)) == layout
    assert invoke_json("layout", *at(bridge)) == layout

    flt = invoke_json("filter", "-m", "m1", "--intensity", "0", "1", *at(bridge))
    assert (flt["model_ids"], flt["intensity_range"]) == (["m1"], [0.0, 1.0])
    assert invoke_json("filter", *at(bridge))["model_ids"] == ["m1"]
    cleared = invoke_json("filter", "--clear", *at(bridge))
    assert cleared["model_ids"] == [] and cleared["intensity_range"] is None
    assert invoke("filter", *at(bridge)).stdout.strip() == "filter  none (everything is shown)"


def test_an_invalid_value_the_server_rejects(bridge: BridgeProcess) -> None:
    done = invoke("theme", "custom", "--color", "not-a-colour", *at(bridge))
    assert_one_line_error(done, EXIT_SERVER, "custom_colors", "#rrggbb")


# ---------------------------------------------------------------- export


def test_export_writes_every_format(bridge: BridgeProcess, seeded: Seeded, tmp_path: Path) -> None:
    written = invoke_json("export", str(tmp_path / "out"), *at(bridge))
    assert set(written) == {"csv", "json", "parquet", "tensorboard"}
    for fmt in ("csv", "json", "parquet"):
        assert sorted(Path(p).name for p in written[fmt]) == [
            f"anomalies.{fmt}", f"correlation_matrix.{fmt}", f"temporal_patterns.{fmt}"]
    assert any(Path(written["tensorboard"][0]).glob("events.out.tfevents.*"))
    matrix = pd.read_csv(tmp_path / "out/correlation_matrix.csv", index_col=0)
    assert matrix.loc["m1/a", "m1/b"] == pytest.approx(1.0, abs=1e-4)
    only = invoke_json("export", str(tmp_path / "one"), "-F", "json", *at(bridge))
    assert set(only) == {"json"}


# ---------------------------------------------------------------- rendering


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_render_writes_a_png_in_the_asked_theme_and_size(
    bridge: BridgeProcess, seeded: Seeded, tmp_path: Path
) -> None:
    path = tmp_path / "deep/heatmap.png"
    info = invoke_json("render", str(path), "--theme", "thermal", "--width", "320",
                       "--height", "240", "-m", "m1", *at(bridge))
    assert (info["kind"], info["theme"], info["width"], info["height"]) == (
        "heatmap", "thermal", 320, 240)
    assert _png_size(path) == (320, 240) and info["bytes"] == path.stat().st_size

    matrix = invoke_json("matrix", "-m", "m1", "--out", str(tmp_path / "m.png"), *at(bridge))
    assert matrix["kind"] == "correlation" and _png_size(tmp_path / "m.png") == (800, 600)

    shown = invoke("render", str(tmp_path / "c.png"), "--kind", "correlation", "--theme",
                   "contour", *at(bridge))
    assert shown.returncode == 0 and "correlation, contour" in shown.stdout


def test_render_errors(bridge: BridgeProcess, seeded: Seeded, tmp_path: Path) -> None:
    too_big = invoke("render", str(tmp_path / "x.png"), "--width", "99999", *at(bridge))
    assert_one_line_error(too_big, EXIT_SERVER, "width 99999", "4096")
    (tmp_path / "file").write_text("not a directory")
    blocked = invoke("render", str(tmp_path / "file/x.png"), *at(bridge))
    assert_one_line_error(blocked, EXIT_LOCAL, str(tmp_path / "file"))


# ---------------------------------------------------------------- usage errors (no network)


@pytest.mark.parametrize(("argv", "words"), [
    (["anomalies", "--severity", "bogus"], ["--severity", "low, medium, high, critical"]),
    (["matrix", "--out", "m.txt"], ["--out", ".csv"]),
    (["matrix", "-m", "a", "-m", "b", "--out", "m.png"], ["--out", "one model"]),
    (["render", "x.png", "--kind", "bogus"], ["--kind", "heatmap, correlation"]),
    (["no-such-command"], ["no-such-command"]),
    ([], ["Missing command"]),
    (["filter", "--clear", "-m", "m1"], ["--clear"]),
    (["theme", "--color", "#ffffff"], ["--color"]),
    (["status", "--target", "http://localhost:8080"], ["--target", "bridge"]),
    (["status", "--client-cert", "pyproject.toml"], ["--client-key"]),
    (["patterns", "--window", "0"], ["--window"]),
])
def test_bad_arguments_are_one_line_and_exit_2(argv: list[str], words: list[str]) -> None:
    assert_one_line_error(invoke(*argv), EXIT_USAGE, *words)


# ---------------------------------------------------------------- following


@pytest.mark.parametrize(("severity", "model", "layer", "where"), [
    (Severity.CRITICAL, "m1", "a", "m1/a"), (Severity.LOW, "m1", None, "m1"),
    (Severity.HIGH, None, None, "-"),
])
def test_a_followed_anomaly_is_one_line_in_its_severity_colour(
    severity: Severity, model: str | None, layer: str | None, where: str
) -> None:
    anomaly = Anomaly(anomaly_type="spike", severity=severity, timestamp=0.0, location=None,
                      layer=layer, model_id=model, score=2.5, description="what happened",
                      sequence=7)
    line = anomaly_line(anomaly)
    assert line.plain == (f"#7 1970-01-01 00:00:00Z {severity.value.upper():8} spike {where} "
                          "score=2.50 what happened")
    [span] = line.spans
    assert line.plain[span.start:span.end].strip() == severity.value.upper()
    assert span.style == SEVERITY_STYLES[severity.value]


def _reader(stream: object, lines: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line)


def _collect(lines: queue.Queue[str], sequences: list[int], want: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(sequences) < want and time.monotonic() < deadline:
        try:
            sequences.append(json.loads(lines.get(timeout=0.5))["sequence"])
        except queue.Empty:
            continue


def test_follow_resumes_across_a_bridge_restart_exactly_once(server: ServerProcess) -> None:
    model = "follow"
    post_nan_frames(server.url, model, 1)
    with BridgeProcess(server.url) as bridge:
        proc = start_cli("anomalies", "--follow", "--json", "-n", "1", "-m", model, *at(bridge))
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
        try:
            seen: list[int] = []
            _collect(lines, seen, 1, 30)  # the head: the command is about to stream
            assert len(seen) == 1, proc.stderr
            post_nan_frames(server.url, model, 3)
            _collect(lines, seen, 4, 20)
            bridge.stop()
            post_nan_frames(server.url, model, 4)  # logged while the bridge is down
            bridge.start()
            post_nan_frames(server.url, model, 2)
            _collect(lines, seen, 10, 60)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(20) == 0, proc.stderr.read() if proc.stderr else ""
            _collect(lines, seen, 11, 1)  # nothing more may come
        finally:
            if proc.poll() is None:
                proc.kill()
    first = seen[0]
    assert seen == list(range(first, first + 10)), seen  # none lost, none repeated, in order


# ---------------------------------------------------------------- serve


def test_serve_starts_server_source_and_bridge(tmp_path: Path) -> None:
    target = f"127.0.0.1:{free_port()}"
    proc = start_cli("serve", "--target", target, "--server-port", str(free_port()),
                     "--server-data-dir", str(tmp_path / "data"), pythonpath=SERVE_PATH)
    try:
        deadline = time.monotonic() + 60
        models: list[str] = []
        while time.monotonic() < deadline and not models:
            done = invoke("status", "--json", "--target", target, "--connect-timeout", "2")
            if done.returncode == 0:
                models = [m["model_id"] for m in json.loads(done.stdout)["models"]]
            else:
                time.sleep(0.5)
        assert models, "the built-in activation source fed no model within 60 s"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
