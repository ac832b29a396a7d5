"""Every bad input gets a precise 4xx: regressions of what hostile clients and fuzzers found."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import numpy as np
import pytest

from tests.server.conftest import Api, unique
from tests.support.server_process import ServerProcess


@pytest.fixture(scope="module")
def token_server() -> Iterator[ServerProcess]:
    with ServerProcess(token="s3cret") as proc:
        yield proc


def _raw_request(server: ServerProcess, head: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return int(data.split(b" ", 2)[1]), data


@pytest.mark.parametrize("value", [b"Bearer \xff\xfe", b"\xc3\x28", b"Bearer s3cret\x80",
                                   b"Basic Zm9vOmJhcg==", b""])
def test_malformed_or_non_utf8_authorization_is_401(token_server: ServerProcess,
                                                    value: bytes) -> None:
    status, data = _raw_request(token_server, b"GET /api/models HTTP/1.1\r\nHost: x\r\n"
                                b"Authorization: " + value + b"\r\nConnection: close\r\n\r\n")
    assert status == 401, data


def test_405_says_which_methods_are_allowed(api: Api) -> None:
    status, headers, _ = api.request("PUT", "/api/filter")
    assert status == 405
    assert set(headers["Allow"].split(",")) >= {"GET", "POST", "DELETE"}


def test_limit_messages_are_exact(api: Api) -> None:
    status, doc = api.call("GET", "/api/anomalies?after_sequence=-1")
    assert status == 400 and doc["error"]["message"] == "after_sequence must be between 0 and " \
        "9223372036854775807"
    status, doc = api.call("GET", f"/api/anomalies?after_sequence={2**63}")
    assert status == 400 and "None" not in doc["error"]["message"]
    status, doc = api.call("GET", "/api/anomalies?limit=0")
    assert status == 400 and doc["error"]["message"] == "limit must be between 1 and 10000"


def test_the_anomaly_page_limit_is_a_flag() -> None:
    """``--max-anomaly-limit`` bounds ``limit`` and the OpenAPI document says the same."""
    with ServerProcess(extra_args=["--max-anomaly-limit", "5"]) as server:
        api = Api(server)
        status, doc = api.call("GET", "/api/anomalies?limit=6")
        assert status == 400 and doc["error"]["message"] == "limit must be between 1 and 5"
        status, doc = api.call("GET", "/api/anomalies?limit=5")
        assert status == 200 and doc["anomalies"] == []
        params = api.get("/openapi.json")["paths"]["/api/anomalies"]["get"]["parameters"]
        (limit,) = [p for p in params if p["name"] == "limit"]
        assert limit["schema"]["maximum"] == 5


@pytest.mark.parametrize("query", ["include_units=maybe", "include_units=", "limit=",
                                   "granularity=bogus", "granularity=",
                                   "severity=urgent", "severity=low&severity=high"])
def test_enum_like_and_empty_query_values_are_checked(api: Api, query: str) -> None:
    path = {"include_units": "/api/models", "granularity": "/api/correlation"}.get(
        query.split("=")[0], "/api/anomalies")
    status, doc = api.call("GET", f"{path}?{query}")
    assert status == 400, (query, doc)
    assert doc["error"]["code"] == "invalid_argument"


def test_boolean_words_accepted_are_exactly_the_documented_ones(api: Api) -> None:
    """Found by schemathesis' long run: ``use_view_filter=False`` was accepted while the
    document listed only lower-case words. Now the document lists each word as written,
    Titled and UPPER, and the server accepts those and nothing else."""
    params = api.get("/openapi.json")["paths"]["/api/temporal/stats"]["get"]["parameters"]
    (flag,) = [p for p in params if p["name"] == "use_view_filter"]
    documented = set(flag["schema"]["enum"])
    assert {"true", "False", "YES", "0"} <= documented
    for word in sorted(documented):
        status, _ = api.call("GET", f"/api/temporal/stats?use_view_filter={word}")
        assert status == 200, word
    for word in ("fAlSe", "tRUE", "y", "on"):
        assert word not in documented
        status, doc = api.call("GET", f"/api/temporal/stats?use_view_filter={word}")
        assert status == 400 and doc["error"]["details"]["field"] == "use_view_filter", word


@pytest.mark.parametrize("name", ["report.csv\n", "a\tb", "x\x00y", "é.csv", "a..b"])
def test_export_names_with_control_characters_are_refused(api: Api, name: str) -> None:
    status, doc = api.call("POST", "/api/export/correlation", {"filename": name})
    assert status == 400, doc
    assert doc["error"]["details"]["field"] == "filename"


def test_numbers_beyond_storage_are_400(api: Api) -> None:
    model = unique("range")
    frame = {"model_id": model, "layer_id": "l", "values": [1.0], "step": 2**63}
    status, doc = api.call("POST", "/api/activations", frame)
    assert status == 400 and doc["error"]["details"]["field"] == "step"
    status, doc = api.call("POST", "/api/activations", {**frame, "step": 5.0})
    assert status == 200  # JSON cannot tell 5 from 5.0
    status, doc = api.call("POST", "/api/activations", {**frame, "model_id": "m" * 257})
    assert status == 400 and doc["error"]["details"]["field"] == "model_id"
    status, doc = api.call("POST", "/api/activations?units=lots", frame)
    assert status == 400 and doc["error"]["details"]["field"] == "units"


@pytest.mark.parametrize("time_range", [[-62135596800001, 0], [0, 253402300800000],
                                        [0, 1e300]])
def test_filter_times_outside_the_protobuf_timestamp_range_are_refused(
        api: Api, time_range: list[float]) -> None:
    status, doc = api.call("POST", "/api/filter", {"time_range": time_range})
    assert status == 400 and doc["error"]["details"]["field"] == "time_range"
    assert api.get("/api/filter") == {}  # nothing was stored that GetFilter cannot read


def test_filter_at_the_timestamp_limits_is_stored(api: Api) -> None:
    doc = api.post("/api/filter", {"time_range": [-62135596800000, 253402300799999]})
    assert doc["filter"]["time_range"] == [-62135596800000, 253402300799999]
    api.call("DELETE", "/api/filter")


@pytest.mark.parametrize("body", [{"layer_ids": {}}, {"model_ids": "abc"}])
def test_filter_lists_of_the_wrong_type_are_refused(api: Api, body: dict[str, object]) -> None:
    assert api.call("POST", "/api/filter", body)[0] == 400


def test_theme_custom_colors_must_be_a_list(api: Api) -> None:
    assert api.call("POST", "/api/theme", {"theme": "custom", "custom_colors": {}})[0] == 400


@pytest.mark.parametrize(("body", "rule"), [
    ({"theme": "custom"}, "len(custom_colors) >= 2 when theme is custom"),
    ({"theme": "CUSTOM", "custom_colors": None}, "len(custom_colors) >= 2 when theme is custom"),
    ({"theme": "custom", "custom_colors": ["#ff0000"]},
     "len(custom_colors) >= 2 when theme is custom"),
    ({"theme": "custom", "custom_colors": ["#ff0000", "#00ff0"]}, None),  # 5 hex digits
    ({"theme": "custom", "custom_colors": ["#ff0000", "rgb(0,0,0)"]}, None),
])
def test_a_stored_custom_theme_always_draws(api: Api, body: dict[str, object],
                                            rule: str | None) -> None:
    """SetTheme refuses a CUSTOM theme that renders and TensorBoard exports could not draw."""
    model = unique("theme")
    api.ingest_series(model, "l", np.arange(8, dtype="f4").reshape(4, 2))
    api.post("/api/theme", {"theme": "plasma"})
    status, doc = api.call("POST", "/api/theme", body)
    assert status == 400 and doc["error"]["code"] == "invalid_argument", doc
    details = doc["error"]["details"]
    assert details["field"] == "custom_colors"
    assert details.get("constraint") == rule
    assert rule is not None or details["pattern"] == "^#[0-9a-fA-F]{6}$"
    assert api.get("/api/theme")["theme"] == "plasma"  # nothing stored
    status, _, png = api.request("GET", f"/api/render?kind=correlation&model_ids={model}")
    assert status == 200 and png.startswith(b"\x89PNG")
    done = api.post("/api/export/correlation", {"filename": unique("tb"), "format": "tensorboard",
                                                "model_ids": [model]})
    assert done["status"] == "ok"
    assert api.post("/api/theme", {"theme": "custom", "custom_colors": ["#000000", "#FFFFFF"]}
                    )["custom_colors"] == ["#000000", "#ffffff"]
    api.post("/api/theme", {"theme": "thermal"})


def test_cross_field_rules_name_their_constraint(api: Api) -> None:
    status, doc = api.call("GET", "/api/correlation?start_time=5&end_time=1")
    assert status == 400 and doc["error"]["details"]["constraint"] == "start_time <= end_time"
    status, doc = api.call("POST", "/api/filter", {"intensity_range": [2, 1]})
    assert status == 400 and doc["error"]["details"]["constraint"] == "min <= max"
    status, doc = api.call("POST", "/api/compare", {"model_ids": ["nobody", "nobody"]})
    assert status == 404  # an unknown model is the more basic error
    model = unique("dup")
    api.ingest_series(model, "l", np.ones((4, 2), "f4"))
    status, doc = api.call("POST", "/api/compare", {"model_ids": [model, model]})
    assert status == 400 and doc["error"]["details"]["constraint"] == "distinct >= 2"


def test_tensorboard_export_of_extreme_values_works(api: Api) -> None:
    model = unique("tb")
    for values in ([3e38, -3e38], [3e38, 3e38], [1e-45, 2e-45]):
        api.post("/api/activations", {"model_id": model, "layer_id": "l", "values": values})
        doc = api.post("/api/export/correlation", {"filename": unique("tb"),
                                                   "format": "tensorboard",
                                                   "model_ids": [model]})
        assert doc["status"] == "ok" and doc["bytes"] > 0
    doc = api.post("/api/export/correlation", {"filename": unique("tb"), "format": "tensorboard",
                                               "model_ids": [model], "start_time": 1,
                                               "end_time": 2})  # no frame in the range
    assert doc["status"] == "ok"


def test_an_empty_binary_body_creates_no_layer(api: Api) -> None:
    model = unique("empty")
    status, _, _ = api.request(
        "POST", f"/api/activations?model_id={model}&layer_id=l&units=4", raw=b"",
        headers={"Content-Type": "application/vnd.neural-heatmap.frames"})
    assert status == 200
    assert model not in {m["model_id"] for m in api.get("/api/models")["models"]}


def test_text_copied_into_errors_is_bounded(api: Api) -> None:
    huge = "m" * 500_000
    status, doc = api.call("POST", "/api/compare", {"model_ids": [huge, "other"]})
    assert status == 404
    assert len(doc["error"]["message"]) <= 1024
    assert len(doc["error"]["details"]["model_id"]) <= 256
