"""``neural-heatmap``: the everyday jobs of the Neural Heatmap service from a terminal.

A Typer + rich command built only on the public Python SDK (``neural_heatmap``);
it lives in its own package so that the SDK stays importable without Typer.
Every command talks gRPC to the bridge (``--target``, default ``localhost:50051``)
except ``serve``, which starts the server and the bridge.

Exit codes (:class:`neural_heatmap_cli._failures.ExitCode`): 0 success, 1 a local
file could not be read or written, 2 bad arguments, 3 the bridge or its server
could not be reached (or timed out), 4 the token was refused, 5 the server
refused or failed the request, 130 interrupted (Ctrl-C; ``anomalies --follow``
ends with 0 instead).
"""
