"""The server's operations, one service per job, shared by HTTP, the WebSocket and the source.

``ServerState`` (``service.py``) used to do ingestion, anomaly reads, view state,
exports and the periodic pushes itself, and so imported two thirds of the package:
a change to any of them meant reading all of them. Each job is now one module here,
given what it needs in its constructor (shared resources such as the activation
store, the hub and the version counters, and the few functions of another service
it calls), and ``ServerState`` only builds and wires them:

- ``decoding``: request bodies and WebSocket messages to documents and frame batches
  (large JSON in the decoder process);
- ``ingest``: frame batches stored, their anomalies detected, heatmaps pushed;
- ``anomaly_log``: the durable anomaly log's writes (record, outbox) and reads;
- ``view``: the stored filter, theme and layout;
- ``queries``: planned analytics run in the worker pool, and their periodic pushes;
- ``exports``: server-side export files, written by a worker and published atomically.

No service imports another (an import-linter contract in ``pyproject.toml``), so
each can be read, tested and changed on its own.
"""
