"""Request bodies and WebSocket messages decoded into documents and frame batches.

Why a service: ``json.loads`` holds the GIL, so a large JSON body decoded on the
event loop stalls every other request. Bodies over ``INLINE_JSON_BYTES`` go to a
decoder process (a ``WorkPool`` of processes, admitted under ``WORK_CLASS``); the
small documents every other route reads are capped at ``MAX_DOCUMENT_BYTES`` so
validating one never holds the loop for long either. Both transports decode here,
so an ingest over HTTP and one over the WebSocket are parsed by the same rules.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..errors import ApiError
from ..ingest import decode_large, parse_json_frames
from ..store import ActivationStore, FrameBatch
from ..wire import loads
from ..workers import Deadline, WorkPool

WORK_CLASS = "ingest"  # the decoder pool's one class of work (--max-pending-ingest)
MAX_DOCUMENT_BYTES = 1 << 20  # a filter, theme, layout, compare, export or query message
INLINE_JSON_BYTES = 256 << 10  # larger JSON is decoded (and its frames parsed) in a process


class RequestDecoder:
    """Decodes JSON documents and frames; large ones in the decoder process.

    Args:
        store: The activation store (known layers' widths check the frames).
        max_units: ``--max-units``, the widest layer a frame may describe.
        max_frames: ``--max-frames``, the most frames one call may carry.
        pool: The decoder process pool, with a ``WORK_CLASS`` class.
        deadline: Makes the deadline a decoding job runs under.
    """

    def __init__(self, store: ActivationStore, max_units: int, max_frames: int,
                 pool: WorkPool, deadline: Callable[[], Deadline]) -> None:
        self._store = store
        self._max_units = max_units
        self._max_frames = max_frames
        self._pool = pool
        self._deadline = deadline

    @staticmethod
    def read_document(raw: bytes) -> Any:
        """Decode a small JSON document (filter, theme, layout, compare, export request).

        Raises:
            ApiError: 413 beyond ``MAX_DOCUMENT_BYTES`` (validating a bigger document
                would hold the event loop); 400 for malformed JSON.
        """
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise ApiError("payload_too_large", f"a body of {len(raw)} bytes exceeds the limit "
                           f"of {MAX_DOCUMENT_BYTES} bytes for this request", bytes=len(raw),
                           limit=MAX_DOCUMENT_BYTES)
        return loads(raw)

    def parse_frames(self, doc: Any, now: float) -> list[FrameBatch]:
        """Validate one decoded frame or ``{"frames": [...]}`` and group it into batches."""
        return parse_json_frames(doc, self._units_of, self._max_units, self._max_frames, now)

    async def read_frames(self, raw: bytes, now: float) -> list[FrameBatch]:
        """Decode and parse a JSON ingest body, in the decoder process when it is large."""
        if len(raw) <= INLINE_JSON_BYTES:
            return self.parse_frames(loads(raw), now)
        _, batches = await self._decode_large(raw, now, message=False)
        assert batches is not None
        return batches

    async def read_message(self, text: str, now: float) -> tuple[Any, list[FrameBatch] | None]:
        """Decode a WebSocket message; a large ``ingest_activations`` comes back parsed.

        Returns:
            ``(message, batches)``: batches are set for a large ingest message (its
            ``data`` is then left out); a large message of another type keeps only
            its ``type`` (the caller refuses it, see ``MAX_DOCUMENT_BYTES``).
        """
        if len(text) <= INLINE_JSON_BYTES:
            return loads(text), None
        return await self._decode_large(text, now, message=True)

    async def _decode_large(self, raw: bytes | str, now: float,
                            message: bool) -> tuple[Any, list[FrameBatch] | None]:
        known = {(m, layer): w.units for m, layers in self._store.models.items()
                 for layer, w in layers.items()}
        job = functools.partial(decode_large, raw, known, self._max_units,
                                self._max_frames, now, message, MAX_DOCUMENT_BYTES)
        return await self._pool.run(WORK_CLASS, self._deadline(), job)

    def _units_of(self, key: tuple[str, str]) -> int | None:
        window = self._store.layer_or_none(*key)
        return window.units if window is not None else None
