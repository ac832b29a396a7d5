"""A bounded LRU of converted anomalies, so a page read again is not converted again."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from neural_heatmap_contract.v1 import analytics_pb2

from ._convert import anomaly


class AnomalyCache:
    """A bounded LRU of converted ``Anomaly`` messages, keyed by ``sequence``.

    An anomaly in the server's log never changes once it has its sequence, so
    converting it again on every ``GetAnomalies`` page (~10 us each, most of
    the bridge's own work per call) is wasted. The bridge talks to one upstream
    for its whole life, so the sequence is enough of a key; still, each entry
    keeps a cheap fingerprint of the JSON it came from (timestamp, type,
    severity, model, layer) and a mismatch (the server's data dir was wiped and
    sequences started over) drops the whole cache. Anomalies without a
    sequence (seed-only upstreams answer 0) are converted every time.

    The cached messages are shared: callers must copy them into their answer
    (protobuf does when a message is added to a repeated field) and never
    modify them.

    Args:
        size: Most entries kept; 0 turns the cache off.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self.resets = 0
        self._items: OrderedDict[int, tuple[tuple[Any, ...], analytics_pb2.Anomaly]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Forget every entry."""
        self._items.clear()

    def get(self, doc: Mapping[str, Any]) -> analytics_pb2.Anomaly:
        """The converted ``doc``: from the cache when it holds the same anomaly."""
        seq = doc.get("sequence")
        if not self.size or not seq or not isinstance(seq, int):
            return anomaly(doc)
        fingerprint = (
            doc.get("timestamp"),
            doc.get("anomaly_type"),
            doc.get("severity"),
            doc.get("model_id"),
            doc.get("layer"),
        )
        items = self._items
        hit = items.get(seq)
        if hit is not None:
            if hit[0] == fingerprint:
                items.move_to_end(seq)
                self.hits += 1
                return hit[1]
            # Same sequence, different anomaly: a new log behind the same address.
            self.resets += 1
            items.clear()
        self.misses += 1
        msg = anomaly(doc)
        items[seq] = (fingerprint, msg)
        if len(items) > self.size:
            items.popitem(last=False)
        return msg

    def convert(self, docs: Iterable[Mapping[str, Any]] | None) -> list[analytics_pb2.Anomaly]:
        """``get`` for each anomaly of a page, in order."""
        return [self.get(d) for d in docs or ()]
