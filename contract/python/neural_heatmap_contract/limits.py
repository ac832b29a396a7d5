"""Limits that more than one part of the system must agree on, each with its default once.

A limit that only one process enforces is a flag of that process (``docs/server.md``,
``docs/bridge.md`` list them all); the ones here cross a boundary: the gRPC message size that
the bridge and every client must raise alike, the largest anomaly page the server serves and
the SDK asks for, the ingest batch the bridge sends and the server reads in one request. Each
is the default of a flag (with its environment fallback) where a process enforces it.
"""

from __future__ import annotations

from typing import Final

from . import policy

MIB: Final = 1 << 20

MAX_MESSAGE_BYTES: Final = policy.MAX_MESSAGE_BYTES
"""gRPC send/receive limit of the bridge (``--max-send-bytes``, ``--max-receive-bytes``) and
of every client: gRPC's 4 MiB default cannot carry a 2048 x 2048 float32 matrix (16 MiB).
Every client's limit, so it lives with the client facts (protos/policy/client.json)."""

MAX_ANOMALY_LIMIT: Final = 10_000
"""Largest ``limit`` of one anomaly read (server ``--max-anomaly-limit``); the SDK's export of
everything asks for this many."""

INGEST_BATCH_BYTES: Final = 8 * MIB
"""Bytes of frame records after which the bridge sends a batch upstream
(bridge ``--ingest-batch-bytes``); well under the server's ``--max-body-bytes`` (64 MiB)."""

MAX_RENDER_SIDE: Final = 4096
"""Largest width or height in pixels of a rendered image (``RenderHeatmap``, ``/api/render``);
the server refuses more with 400 / INVALID_ARGUMENT naming this limit."""

MAX_RENDER_PIXELS: Final = 8 * MIB
"""Largest width x height of a rendered image (8 Mi pixels, e.g. 4096 x 2048): an RGBA canvas
of 32 MiB while drawing and a PNG well under ``MAX_MESSAGE_BYTES``."""

MAX_RENDER_PANELS: Final = 64
"""Most layer panels on one rendered heatmap canvas; a selection of more layers is refused
(choose layers with ``layer_ids``, or render the correlation matrix)."""

MAX_RENDER_TICK_LABELS: Final = 64
"""Most row (and column) labels written on a rendered correlation matrix; a larger matrix gets
this many evenly spaced labels, since more would overlap into an unreadable band."""

MAX_TENSORBOARD_POINTS: Final = 64 * 1024
"""Most activation-mean points (``activations/<model>/<layer>/mean``) one TensorBoard run
holds (the server's ``tensorboard`` export, the SDK's ``export_tensorboard``/``export_all``):
the selected layers share them evenly, so a run's size and the time to write it stay
bounded however many layers are selected. A thinned series keeps evenly spaced frames, its
first and newest among them (at least those two per layer); the export's answer
(``sampling``) and the run's ``export/sampling`` text say which layers were thinned."""

MAX_TENSORBOARD_POINTS_PER_LAYER: Final = 1024
"""Most activation-mean points of one layer in a TensorBoard run (a default window's worth):
TensorBoard itself keeps 1,000 points per scalar series when it loads a run."""

MIN_CUSTOM_COLORS: Final = 2
"""Fewest ``custom_colors`` of the CUSTOM theme (a colour map runs from one colour to another):
``SetTheme`` / ``POST /api/theme`` and renders refuse fewer with 400 / INVALID_ARGUMENT naming
``custom_colors``, so a stored theme always draws."""

MAX_ID_CHARS: Final = 256
"""Longest model or layer id, in characters (the server's ingest refuses longer ones with 400);
a ``model/layer`` label is at most ``2 * MAX_ID_CHARS + 1``."""

MAX_ID_BYTES: Final = 1024
"""Longest id the bridge accepts in a request, in UTF-8 bytes (``MAX_ID_CHARS`` characters of up
to 4 bytes each); a longer stored id is INVALID_ARGUMENT, a longer looked-up id NOT_FOUND."""

MAX_IDS_PER_REQUEST: Final = 256
"""Most ids in one repeated id field of a request (``model_ids``, ``layer_ids``, each): the
bridge refuses more with INVALID_ARGUMENT naming this limit before it calls the server, since
it sends them in the query string of one upstream URL."""

MAX_REQUEST_LINE_BYTES: Final = 2 * MAX_IDS_PER_REQUEST * (len("&model_id=") + 3 * MAX_ID_BYTES) \
    + 64 * 1024
"""Longest HTTP request line the server reads (aiohttp's ``max_line_size``, 8190 by default):
two full id lists of the longest ids, every byte percent-encoded, plus 64 KiB for the other
parameters (about 1.6 MB). A longer line is answered 400 and logged as one warning."""
