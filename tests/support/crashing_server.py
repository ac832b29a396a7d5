"""The real server, killed between publishing an anomaly to JetStream and committing it.

For the exactly-once test of the JetStream anomaly log (tests/server/test_jetstream_log.py)
only; the production package never imports this file (import-linter, pyproject.toml)::

    python -m tests.support.crashing_server --crash-after-publish 2 [server flags]

SIGKILLs the process right after the 2nd publish is acknowledged, before its commit: the
one moment the transactional outbox exists for. It swaps in a subclass of the server's
``JetStreamAnomalyLog`` before the server opens its log; nothing else changes.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from neural_heatmap_server import jetstream_log
from neural_heatmap_server.__main__ import main as serve


class CrashingLog(jetstream_log.JetStreamAnomalyLog):
    """Counts commits (one per acknowledged publish, right after it) and dies before the
    ``crash_after``-th."""

    crash_after = 0
    committed = 0

    def _commit(self, row_id: int, anomaly: dict[str, Any]) -> None:
        if CrashingLog.committed + 1 == self.crash_after:
            os.kill(os.getpid(), signal.SIGKILL)
        CrashingLog.committed += 1
        super()._commit(row_id, anomaly)


def main(argv: Sequence[str] | None = None) -> None:
    """``--crash-after-publish N``, then every server flag."""
    parser = argparse.ArgumentParser(prog="crashing-server", add_help=False)
    parser.add_argument("--crash-after-publish", type=int, required=True)
    ns, server_args = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    CrashingLog.crash_after = ns.crash_after_publish
    # The server imports its JetStream log by name when it opens it
    # (services.anomaly_log.open_anomaly_log).
    jetstream_log.JetStreamAnomalyLog = CrashingLog  # type: ignore[misc]
    serve(server_args)


if __name__ == "__main__":
    main()
