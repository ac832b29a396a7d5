"""Ids are drawn as text: a ``$`` in a model or layer id is not matplotlib mathtext.

Found by the long OpenAPI fuzz: a TensorBoard export of the correlation matrix answered
500 after schemathesis had ingested a model whose id held ``$^$``, because matplotlib
parsed the tick label as mathtext and raised ParseSyntaxException. The id rule allows
``$``, so every render of ids must take them literally.
"""

from __future__ import annotations

import urllib.parse

import numpy as np
from neural_heatmap_contract.routes import http

from tests.server.conftest import Api, unique

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_ids_with_dollar_signs_render_and_export(api: Api) -> None:
    model = unique("m$^$")
    rng = np.random.default_rng(3)
    for layer in ("l$\\frac$", "a$_$b"):
        api.ingest_series(urllib.parse.quote(model, safe=""), urllib.parse.quote(layer, safe=""),
                          rng.normal(size=(32, 16)).astype("f4"))
    for kind in ("heatmap", "correlation"):
        query = urllib.parse.urlencode({"kind": kind, "model_ids": model})
        status, headers, body = api.request("GET", f"{http('RenderHeatmap').path}?{query}")
        assert status == 200, (kind, body[:300])
        assert body.startswith(PNG_MAGIC) and headers.get("X-Render-Empty") is None, kind
    status, doc = api.call("POST", http("ExportCorrelationMatrix").path, {
        "format": "tensorboard", "model_ids": [model], "filename": unique("tb")})
    assert status == 200, doc
