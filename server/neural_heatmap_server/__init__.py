"""Neural Heatmap server: activation ingestion, live analytics, HTTP + WebSocket API."""

from .app import create_app
from .config import ServerConfig, parse_config

__all__ = ["ServerConfig", "create_app", "parse_config"]
__version__ = "0.1.0"
