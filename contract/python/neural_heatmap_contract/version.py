"""The one version of the contract and of every SDK, and the header the bridge sends it in.

``protos/VERSION`` is the source; this constant, ``pyproject.toml``, the npm package and the
Go constant ``neuralheatmap.Version`` repeat it, and ``tests/docs/test_versions.py`` fails
when one differs. Compatibility rule: docs/clients.md, "Versions and compatibility".
"""

from __future__ import annotations

VERSION = "0.2.0"
"""The contract's (and every SDK's) version: MAJOR.MINOR.PATCH, as in ``protos/VERSION``."""

VERSION_HEADER = "x-neural-heatmap-version"
"""Response header (gRPC initial metadata) carrying the bridge's :data:`VERSION` on every RPC."""
