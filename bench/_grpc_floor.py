"""Reference grpc.aio servers for GetAnomalies that do a chosen part of the bridge's work.

The unary case runs them next to the bridge to split its per-call cost:

- ``static``: answer with the bridge's own response, pre-built (no upstream call):
  the ceiling of any Python grpc.aio service on this machine;
- ``upstream``: also make the same upstream ``GET /api/anomalies`` with aiohttp and
  ``json.loads`` it, then answer the pre-built response: the cost of the HTTP hop;
- ``convert``: also convert the JSON to protobuf with the bridge's own converter
  (``neural_heatmap_bridge._convert.anomaly``): the bridge minus its plumbing
  (interceptors, error wrapper, request ids, deadlines).

Run as ``python -m bench._grpc_floor MODE PORT RESPONSE_FILE [UPSTREAM_URL]``; prints
``ready`` once serving and stops on stdin EOF.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from neural_heatmap_contract import routes

MODES = ("static", "upstream", "convert")


async def main(mode: str, port: int, response_file: Path, upstream: str | None) -> None:
    from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb
    from neural_heatmap_contract.v1 import neural_heatmap_service_pb2_grpc as pb_grpc

    answer = pb.GetAnomaliesResponse.FromString(response_file.read_bytes())
    convert: Any = None
    if mode == "convert":
        from neural_heatmap_bridge import _convert

        convert = _convert.anomaly
    session = (aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256))
               if mode != "static" else None)
    url = f"{upstream}{routes.http('GetAnomalies').path}"

    class Floor(pb_grpc.NeuralHeatmapServiceServicer):
        async def GetAnomalies(self, request: Any, context: Any) -> Any:
            if session is None:
                return answer
            async with session.get(url, params={"limit": str(request.limit)}) as r:
                body = await r.read()
            doc = json.loads(body)
            if convert is None:
                return answer
            return pb.GetAnomaliesResponse(
                anomalies=[convert(a) for a in doc.get("anomalies") or []],
                last_sequence=int(doc.get("last_sequence") or 0),
                first_sequence=int(doc.get("first_sequence") or 0))

    server = grpc.aio.server()
    pb_grpc.add_NeuralHeatmapServiceServicer_to_server(Floor(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await server.stop(0)
    if session is not None:
        await session.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]),
                     sys.argv[4] if len(sys.argv) > 4 else None))
