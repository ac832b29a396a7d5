"""Entry point: ``python -m neural_heatmap_server`` / ``neural-heatmap-server``."""

from __future__ import annotations

import errno
import logging
from collections.abc import Sequence

from aiohttp import web

from .app import SHUTDOWN_GRACE_SECONDS, create_app
from .config import parse_config


def main(argv: Sequence[str] | None = None) -> None:
    """Parse flags, then serve until SIGINT/SIGTERM."""
    config = parse_config(argv)
    logging.basicConfig(level=config.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("neural_heatmap_server").info(
        "listening on http://%s:%d (data %s, exports %s, source %s)", config.host, config.port,
        config.data_dir, config.exports_path, "on" if config.source else "off")
    try:
        web.run_app(create_app(config), host=config.host, port=config.port, access_log=None,
                    print=None, handle_signals=True,
                    shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        # one line, not a traceback: the port is the user's to change
        raise SystemExit(f"neural-heatmap-server: error: port {config.port} on {config.host} "
                         "is in use by another process; choose another with --port") from exc


if __name__ == "__main__":
    main()
