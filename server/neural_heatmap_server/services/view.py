"""The view state: the stored filter, theme and layout, and who is told when they change.

Why a service: the view state is read on hot paths (the filter for every
ingested batch's heatmap push, the theme for every render and export) and
written rarely, so the filter is kept in memory and written through to SQLite;
and every change must move the ``view`` version so that caches drop what they
answered under the old view. Validation rules live in ``view_state``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..hub import Hub
from ..persistence import ViewStateStore
from ..versions import Versions
from ..view_state import (
    DEFAULT_THEME,
    Known,
    filter_warnings,
    validate_filter,
    validate_layout,
    validate_theme,
)


class ViewService:
    """The stored view state (persisted in ``store``; survives restarts).

    Args:
        store: Where the view state persists.
        hub: The WebSocket fan-out (version listeners).
        versions: The version counters (``view`` counts changes).
        known: The models and layers stored now (what filter warnings compare with).
    """

    def __init__(self, store: ViewStateStore, hub: Hub, versions: Versions,
                 known: Callable[[], Known]) -> None:
        self._known = known
        self._store = store
        self._hub = hub
        self._versions = versions
        self._filter: dict[str, Any] = store.get("filter") or {}

    def stored_filter(self) -> dict[str, Any]:
        """The stored filter itself, not a copy: for readers on the loop that do not
        change it (every heatmap push reads it)."""
        return self._filter

    def get_filter(self) -> dict[str, Any]:
        """The stored filter (``{}`` when none); a copy, so callers cannot change it."""
        return dict(self._filter)

    def filter_warnings(self) -> list[str]:
        """What ``set_filter`` would warn about the stored filter now (``filter_warnings``)."""
        return filter_warnings(self._filter, self._known())

    def set_filter(self, body: Any) -> dict[str, Any]:
        """Validate and store the filter; ``{}`` clears it. The answer's ``warnings`` name
        ids that match nothing known and say when the filter hides every layer."""
        filt = validate_filter(body)
        if filt:
            self._store.put("filter", filt)
        else:
            self._store.delete("filter")
        self._filter = filt
        self._changed()
        return {"status": "ok", "filter": filt,
                "warnings": filter_warnings(filt, self._known())}

    def get_theme(self) -> dict[str, Any]:
        """The stored theme (thermal by default)."""
        return self._store.get("theme") or dict(DEFAULT_THEME)

    def set_theme(self, body: Any) -> dict[str, Any]:
        """Validate and store the theme."""
        theme = validate_theme(body)
        self._store.put("theme", theme)
        self._changed()
        return {"status": "ok", **theme}

    def get_layout(self) -> dict[str, Any]:
        """The stored layout (``{}`` when none)."""
        return self._store.get("layout") or {}

    def set_layout(self, body: Any) -> dict[str, Any]:
        """Validate and store the layout (replacing the previous one)."""
        layout = validate_layout(body)
        self._store.put("layout", layout)
        self._changed()
        return {"status": "ok", "layout": layout}

    def _changed(self) -> None:
        """A filter, theme or layout was stored: tell the caches (``versions``)."""
        self._versions.view += 1
        self._hub.publish_versions(self._versions.message())
