"""schemathesis hooks for tests/server/test_openapi_fuzz.py (loaded via SCHEMATHESIS_HOOKS).

The two data-agreement checks are wrapped to let through exactly two kinds of
answer that are not disagreements between document and server:

- a 400 whose ``details.constraint`` names a rule between fields, or between
  the request and stored state, that JSON Schema cannot express
  (``start_time <= end_time``, ``min <= max``, distinct compare ids, a layer's
  fixed unit count, the number of layers held); see the operations' descriptions;
- a 413 ``payload_too_large`` refusing a body over a documented size limit
  (schemathesis counts only some 4xx statuses as refusals).

Everything else goes through the built-in checks unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance


def _error(response: Any) -> dict[str, Any]:
    try:
        doc = json.loads(response.content)
    except ValueError:
        return {}
    err = doc.get("error") if isinstance(doc, dict) else None
    return err if isinstance(err, dict) else {}


@schemathesis.check
def positive_data_accepted_or_cross_field_rule(ctx: Any, response: Any, case: Any) -> Any:
    """``positive_data_acceptance``, except a 400 naming a cross-field constraint."""
    details = _error(response).get("details")
    if response.status_code == 400 and isinstance(details, dict) and "constraint" in details:
        return None
    return positive_data_acceptance(ctx, response, case)


@schemathesis.check
def negative_data_rejected_or_too_large(ctx: Any, response: Any, case: Any) -> Any:
    """``negative_data_rejection``, counting 413 ``payload_too_large`` as a refusal."""
    if response.status_code == 413 and _error(response).get("code") == "payload_too_large":
        return None
    return negative_data_rejection(ctx, response, case)
