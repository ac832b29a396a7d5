"""The SDK's closed sets: ``StrEnum`` members mapped both ways to proto enums.

Members compare equal to the seed's strings (``p.pattern_type == "periodic"``,
``update.severity == "critical"``) and print as those strings, so code written
for the seed's plain strings keeps working. Where the server may name a kind the
SDK does not know (anomaly and pattern types), :meth:`_ProtoEnum.named` gives
that name as a plain string instead of UNSPECIFIED.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from neural_heatmap_contract import enums
from neural_heatmap_contract.v1 import updates_pb2

__all__ = [
    "AnomalyType",
    "ExportFormat",
    "Granularity",
    "PatternType",
    "Severity",
    "UpdateType",
    "VisualizationTheme",
]

_PROTO_NUMBERS: dict[type[enum.StrEnum], Mapping[str, int]] = {}
"""Per enum class: member value (word) to proto enum number (filled as classes are made)."""


class _ProtoEnum(enum.StrEnum):
    """A str enum with a two-way mapping to a generated proto enum.

    A subclass names the contract's word table of its enum (``class
    Severity(_ProtoEnum, words=enums.SEVERITY)``), the same table the server's
    word checks and the bridge's conversions use; a member maps to the number
    its value has there (``unspecified`` to 0), so the mapping is declared only
    once, in ``neural_heatmap_contract.enums``.
    """

    def __init_subclass__(cls, *, words: Mapping[str, int], **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _PROTO_NUMBERS[cls] = {"unspecified": 0, **words}

    @classmethod
    def from_proto(cls, value: int) -> Any:
        """Map a proto enum number to a member (UNSPECIFIED for unknown numbers)."""
        for member in cls:
            if member.to_proto() == value:
                return member
        return cls("unspecified")

    @classmethod
    def named(cls, name: str, value: int) -> Any:
        """The member the server named, or its name itself when this SDK does not know it.

        ``name`` is the word as the server sent it (a ``*_name`` field); an empty name (an
        older bridge that did not send one) falls back to the enum number. An unknown name
        is returned as a plain ``str`` rather than UNSPECIFIED, so it is not lost.
        """
        if not name:
            return cls.from_proto(value)
        try:
            return cls(name)
        except ValueError:
            return name

    def to_proto(self) -> int:
        """The proto enum number of this member."""
        return int(_PROTO_NUMBERS[type(self)][self.value])

    @classmethod
    def parse(cls, value: str | _ProtoEnum) -> Any:
        """Accept a member, its value (``"critical"``) or its name (``"CRITICAL"``).

        Raises:
            ValueError: For anything else; the message lists valid values.
        """
        if isinstance(value, cls):
            return value
        text = str(value).strip()
        for member in cls:
            if text.lower() in (member.value, member.name.lower()):
                return member
        valid = ", ".join(m.value for m in cls if m.value != "unspecified")
        raise ValueError(f"unknown {cls.__name__} {value!r}; expected one of: {valid}")


class Severity(_ProtoEnum, words=enums.SEVERITY):
    """How serious an anomaly is.

    Members compare equal to the seed's strings. Use :attr:`rank` (0..4) to
    order them; string comparison (``<``) would be alphabetical.
    """

    UNSPECIFIED = "unspecified"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 (unspecified) to 4 (critical); larger is more severe."""
        return self.to_proto()


class PatternType(_ProtoEnum, words=enums.PATTERN_TYPE):
    """Kind of temporal pattern: ``"periodic"``, ``"trend"`` or ``"state_change"``."""

    UNSPECIFIED = "unspecified"
    PERIODIC = "periodic"
    TREND = "trend"
    STATE_CHANGE = "state_change"


class AnomalyType(_ProtoEnum, words=enums.ANOMALY_TYPE):
    """What an anomaly detector saw."""

    UNSPECIFIED = "unspecified"
    NON_FINITE = "non_finite"
    EXPLODING = "exploding"
    DEAD_UNITS = "dead_units"
    SATURATION = "saturation"
    SPIKE = "spike"


class VisualizationTheme(_ProtoEnum, words=enums.THEME):
    """Colour scheme of the heatmap canvas (the seed's theme system)."""

    UNSPECIFIED = "unspecified"
    THERMAL = "thermal"
    PLASMA = "plasma"
    HOLOGRAPHIC = "holographic"
    CONTOUR = "contour"
    CUSTOM = "custom"


class ExportFormat(_ProtoEnum, words=enums.EXPORT_FORMAT):
    """File format of an export."""

    UNSPECIFIED = "unspecified"
    CSV = "csv"
    JSON = "json"
    TENSORBOARD = "tensorboard"
    PARQUET = "parquet"


class Granularity(_ProtoEnum, words=enums.GRANULARITY):
    """Rows of a correlation matrix: one per layer (default) or one per unit."""

    UNSPECIFIED = "unspecified"
    LAYER = "layer"
    UNIT = "unit"


# The WebSocket message types: ``UPDATE_TYPE_HEATMAP`` is ``heatmap_update``.
_UPDATE_TYPE_WORDS = {
    name.removeprefix("UPDATE_TYPE_").lower() + "_update": number
    for name, number in updates_pb2.UpdateType.items()
    if number
}


class UpdateType(_ProtoEnum, words=_UPDATE_TYPE_WORDS):
    """Kinds of live update, named as the seed's WebSocket message types.

    :meth:`parse` also accepts the short forms ``"heatmap"``,
    ``"correlation"``/``"correlations"``, ``"temporal"``,
    ``"anomaly"``/``"anomalies"`` and ``"view"``. ``VIEW`` (the stored filter, theme
    and layout, pushed when any client changes them) is the one kind a stream carries
    only when asked for by name.
    """

    UNSPECIFIED = "unspecified"
    HEATMAP = "heatmap_update"
    CORRELATION = "correlation_update"
    TEMPORAL = "temporal_update"
    ANOMALY = "anomaly_update"
    VIEW = "view_update"

    @classmethod
    def parse(cls, value: str | _ProtoEnum) -> Any:
        """Like :meth:`_ProtoEnum.parse`, plus the short and plural forms."""
        aliases = {
            "heatmap": cls.HEATMAP,
            "correlation": cls.CORRELATION,
            "correlations": cls.CORRELATION,
            "temporal": cls.TEMPORAL,
            "anomaly": cls.ANOMALY,
            "anomalies": cls.ANOMALY,
            "view": cls.VIEW,
        }
        if isinstance(value, str) and value.strip().lower() in aliases:
            return aliases[value.strip().lower()]
        return super().parse(value)
