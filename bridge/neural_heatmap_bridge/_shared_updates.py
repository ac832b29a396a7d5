"""Serialize once per update: every stream given the same update writes the same bytes.

The fan-out hands one converted update object to every interested mailbox
(heatmaps, correlations and temporal updates are converted once per upstream
message; anomalies are shared ``Anomaly`` messages from ``_anomaly_cache``).
What used to happen per subscriber, building the stream's response message
around the update and serializing it, happens here once per (update, response
variant): the servicer yields the bytes, which the method's serializer passes
through (``_server.PRESERIALIZED``).

Anomalies are filtered per stream (models, severity), so streams get different
selections of a batch; ``anomaly_update`` returns one ``AnomalyUpdate`` object
per distinct selection, so streams with the same filter also share the bytes.
Nothing here drops or merges anything: coalescing and the never-drop rule stay
with the mailboxes (``_mailbox``), which only see shared objects now.

The memos are keyed by object identity and keep a reference to the object, so an
identity cannot be reused while its entry lives; both are bounded LRUs (a
forgotten entry costs one more serialization, never a wrong answer).

That reference is what an encoding really costs: the update message it pins
lives in native protobuf (upb) memory, several times its encoded size (an
``AnomalyUpdate`` of 4 anomalies: ~5.5 KiB for ~0.6 KiB of bytes, measured).
A memo bounded by the bytes of its encodings alone therefore held tens of
thousands of small updates, hundreds of MiB of native memory invisible to
``tracemalloc`` (issue 23, finding 5). So each entry is charged twice its
encoded size (the bytes, and the message at least as large) and the memo keeps
at most ``ENCODED_ENTRIES`` entries: the streams given one update send it
within moments of each other, so a short memory serves them all.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from google.protobuf.message import Message
from neural_heatmap_contract.v1 import analytics_pb2, updates_pb2

from . import _convert as cv

# Distinct anomaly selections remembered (a handful of filters in practice).
SELECTIONS = 64
# Bytes charged to the encodings remembered (twice each encoding, see above): recent
# heatmaps of many layers fit.
ENCODED_BYTES = 32 << 20
# Encodings remembered at most, whatever their size (each pins its update message).
ENCODED_ENTRIES = 1024


class SharedUpdates:
    """The memos of one fan-out (see the module docstring)."""

    def __init__(self, max_bytes: int = ENCODED_BYTES, max_entries: int = ENCODED_ENTRIES) -> None:
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self._selections: OrderedDict[
            tuple[int, ...], tuple[list[analytics_pb2.Anomaly], updates_pb2.AnomalyUpdate]
        ] = OrderedDict()
        self._encoded: OrderedDict[tuple[int, type[Message], str], tuple[Message, bytes]] = (
            OrderedDict()
        )
        self._bytes = 0

    def anomaly_update(self, items: Sequence[analytics_pb2.Anomaly]) -> updates_pb2.AnomalyUpdate:
        """The ``AnomalyUpdate`` of ``items``: one object per distinct selection.

        Callers must not modify it (it is shared by every stream that selected the same).
        """
        key = tuple(map(id, items))
        hit = self._selections.get(key)
        if hit is not None:
            self._selections.move_to_end(key)
            return hit[1]
        update = cv.anomaly_update(items)
        self._selections[key] = (list(items), update)
        if len(self._selections) > SELECTIONS:
            self._selections.popitem(last=False)
        return update

    def response(self, wrapper: type[Message], field: str, update: Message) -> bytes:
        """``wrapper(field=update)`` serialized, once per update, wrapper and field."""
        key = (id(update), wrapper, field)
        hit = self._encoded.get(key)
        if hit is not None:
            self._encoded.move_to_end(key)
            return hit[1]
        data = bytes(wrapper(**{field: update}).SerializeToString())
        if _charge(data) <= self._max_bytes:
            self._encoded[key] = (update, data)
            self._bytes += _charge(data)
            while self._bytes > self._max_bytes or len(self._encoded) > self._max_entries:
                _, (_, old) = self._encoded.popitem(last=False)
                self._bytes -= _charge(old)
        return data

    @property
    def entries(self) -> int:
        """Encodings remembered now."""
        return len(self._encoded)


def _charge(data: bytes) -> int:
    """What one remembered encoding costs: its bytes and the message it pins."""
    return 2 * len(data)
