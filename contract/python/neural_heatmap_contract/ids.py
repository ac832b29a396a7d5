"""The one rule for model and layer ids, checked wherever an id comes into being.

An id is 1 to ``MAX_ID_CHARS`` characters, contains neither ``,`` nor ``/``,
and neither begins nor ends with a blank (``BLANKS``: space, tab, CR, LF, VT,
FF). Why: the seed's query form lists ids comma-separated (``model_ids=a,b``)
and drops the blanks around each item, and a correlation label joins model and
layer with ``/`` (``model/layer``). An id breaking the rule could not be named by every route
(``p,q`` would select the models ``p`` and ``q``), so it is refused where it
would be created: ``POST /api/activations`` (JSON and binary) and WebSocket
ingestion answer 400, ``IngestActivations`` rejects the frame with
``invalid_argument``, and the PyTorch hook refuses to watch under such an id.
Every id that exists then reads back exactly in every form a route accepts:
a comma list, a repeated parameter or a JSON list.
"""

from __future__ import annotations

from typing import Final

from .limits import MAX_ID_CHARS

ID_SEPARATORS: Final = (",", "/")
"""Characters an id may not contain: the comma lists' and the labels' separators."""

BLANKS: Final = " \t\n\v\f\r"
"""The blanks a comma list drops around each item (ASCII whitespace, named exactly: the
"whitespace" of Python, JSON Schema validators and other languages differ beyond it)."""

BLANKS_PATTERN: Final = r"[ \t\n\v\f\r]*"
"""Any run of ``BLANKS``, as a regular expression (the OpenAPI patterns of comma lists)."""

ID_PATTERN: Final = r"^[^,/ \t\n\v\f\r]([^,/]*[^,/ \t\n\v\f\r])?$"
"""The rule as a regular expression (the OpenAPI document's ``pattern`` for ids); with
``MAX_ID_CHARS`` it accepts exactly what ``id_problem`` accepts."""

ID_RULE: Final = (f"an id is 1 to {MAX_ID_CHARS} characters without ',' or '/' and without "
                  "blanks at either end, so that comma lists (model_ids=a,b) and model/layer "
                  "labels name it exactly")
"""The rule in words: every refusal quotes it."""


def id_problem(value: object, field: str) -> str | None:
    """What is wrong with ``value`` as the id ``field``, or None when it is a valid id.

    Args:
        value: The candidate id.
        field: Its name in the request (``model_id``, ``frames[3].layer_id``).

    Returns:
        One sentence naming the field, the fault and ``ID_RULE``; None when valid.
    """
    if not isinstance(value, str):
        fault = "must be a string"
    elif not 0 < len(value) <= MAX_ID_CHARS:
        fault = f"has {len(value)} characters"
    elif any(sep in value for sep in ID_SEPARATORS):
        sep = next(sep for sep in ID_SEPARATORS if sep in value)
        fault = f"contains {sep!r}"
    elif value != value.strip(BLANKS):
        fault = "begins or ends with a blank"
    else:
        return None
    return f"{field} {fault}: {ID_RULE}"
