"""What each HTTP route accepts, read from the OpenAPI document: nothing is silently ignored.

The document (``openapi.py``) declares every operation's query parameters and
request body; this module turns that declaration into the sets the server
checks, so the document lists exactly what a route accepts and adding a
parameter there is all it takes to accept it. Anything else is a 400 naming
it and listing what the route accepts:

- a query parameter the operation does not declare (a route without an
  operation in the document, such as ``/ws``, accepts none);
- a query parameter given more than once, unless it is declared as an
  exploded array (``model_id=a&model_id=b``);
- a top-level field of a JSON object body the operation does not declare
  (bodies declared as an object with ``properties``; the ingest body, a frame
  or ``{"frames": [...]}``, is checked frame by frame in ``ingest``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from multidict import MultiMapping

from .errors import invalid


@dataclass(frozen=True)
class Accepted:
    """What one operation (method + path template) accepts.

    Attributes:
        operation: ``"GET /api/anomalies"``, for messages.
        query: Declared query parameter names.
        repeatable: The ones that may be given more than once.
        body: Declared top-level body fields; None when the body is not checked here.
    """

    operation: str
    query: frozenset[str] = frozenset()
    repeatable: frozenset[str] = frozenset()
    body: frozenset[str] | None = None

    def check_query(self, query: MultiMapping[str]) -> None:
        """Refuse an undeclared or wrongly repeated query parameter (400 naming it)."""
        unknown = sorted(set(query) - self.query)
        if unknown:
            raise invalid(f"unknown query parameter {unknown[0]!r} for {self.operation}; "
                          f"it accepts {_listed(self.query)}", field=unknown[0],
                          allowed=sorted(self.query))
        repeated = sorted(k for k in set(query) - self.repeatable if len(query.getall(k)) > 1)
        if repeated:
            raise invalid(f"query parameter {repeated[0]!r} is given more than once",
                          field=repeated[0])

    def check_body(self, doc: Any) -> None:
        """Refuse an undeclared top-level field of a JSON object body (400 naming it)."""
        if self.body is None or not isinstance(doc, dict):
            return
        unknown = sorted(set(doc) - self.body)
        if unknown:
            raise invalid(f"unknown body field {unknown[0]!r} for {self.operation}; "
                          f"it accepts {_listed(self.body)}", field=unknown[0],
                          allowed=sorted(self.body))


def _listed(names: frozenset[str]) -> str:
    return ", ".join(sorted(names)) if names else "none"


def _resolve(schema: Mapping[str, Any], document: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        resolved: Mapping[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        return resolved
    return schema


def _body_fields(op: Mapping[str, Any], document: Mapping[str, Any]) -> frozenset[str] | None:
    body = op.get("requestBody")
    if body is None:
        return None
    schema = _resolve(body["content"]["application/json"]["schema"], document)
    if "properties" not in schema:
        return None
    return frozenset(schema["properties"])


def accepted_by_operation(document: Mapping[str, Any]) -> dict[tuple[str, str], Accepted]:
    """``(METHOD, path template) -> Accepted`` for every operation of ``document``."""
    table: dict[tuple[str, str], Accepted] = {}
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            query = [p for p in op.get("parameters", []) if p["in"] == "query"]
            table[(method.upper(), path)] = Accepted(
                operation=f"{method.upper()} {path}",
                query=frozenset(p["name"] for p in query),
                repeatable=frozenset(p["name"] for p in query if p.get("explode")),
                body=_body_fields(op, document))
    return table


def accepted_for(table: Mapping[tuple[str, str], Accepted], method: str,
                 path: str) -> Accepted:
    """The entry of a route; a route the document does not describe accepts nothing."""
    return table.get((method, path)) or Accepted(operation=f"{method} {path}")
