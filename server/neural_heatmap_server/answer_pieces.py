"""Large JSON answers encoded in bounded pieces (by a worker), written a piece at a time.

``json.dumps`` is one C call that holds the GIL until it returns: the unit listing of
``/api/models?include_units=true`` at its limit (``analytics.MAX_UNITS_DETAIL``, about
a million units) took over 6 s on the loaded 2-core machine, and the event loop waited
the whole time. Here such answers are encoded ``UNITS_PER_PIECE`` entries per call, so
the loop gets the GIL back between calls, and the handler writes the pieces one by
one (``app.stream_pieces``). The correlation matrix has its own
(``CorrelationResult.to_json_pieces``).
"""

from __future__ import annotations

from typing import Any

from .wire import dumps
from .workers import check_deadline

UNITS_PER_PIECE = 4096


def _object_head(doc: dict[str, Any], last: str) -> str:
    """``doc`` without ``last`` as JSON text left open: ``{"a":1,"<last>":``."""
    head = dumps({k: v for k, v in doc.items() if k != last})
    return (head[:-1] + "," if len(head) > 2 else "{") + dumps(last) + ":"


def models_pieces(answer: dict[str, Any]) -> list[bytes]:
    """``{"models": [...]}`` of ``/api/models``, each ``units_detail`` in pieces.

    Keys keep their order except that ``layers`` and ``units_detail`` come last
    in their objects (JSON objects are unordered).
    """
    out = ['{"models":[']
    for m, model in enumerate(answer["models"]):
        out.append(("," if m else "") + _object_head(model, "layers") + "[")
        for i, layer in enumerate(model["layers"]):
            sep = "," if i else ""
            detail = layer.get("units_detail")
            if detail is None:
                out.append(sep + dumps(layer))
                continue
            out.append(sep + _object_head(layer, "units_detail") + "[")
            for start in range(0, len(detail), UNITS_PER_PIECE):
                check_deadline()
                out.append(("," if start else "")
                           + dumps(detail[start:start + UNITS_PER_PIECE])[1:-1])
            out.append("]}")
        out.append("]}")
    out.append("]}")
    return [piece.encode() for piece in out]
