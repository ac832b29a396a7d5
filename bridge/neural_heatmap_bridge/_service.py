"""Thin handlers: one per RPC of ``neural_heatmap.v1.NeuralHeatmapService``.

Each handler builds the upstream request, calls ``_upstream``, and converts the
answer with ``_convert``; failures become statuses in ``_handlers``/``_errors``.
Hot reads are marked ``@cached`` and writes ``@writes`` (``_read_cache``).
Streams come from the shared fan-out (``_fanout``), ingestion from ``_ingest``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

from google.protobuf.message import Message
from neural_heatmap_contract import enums
from neural_heatmap_contract.media import MATRIX_MEDIA_TYPE
from neural_heatmap_contract.routes import http
from neural_heatmap_contract.v1 import (
    neural_heatmap_service_pb2 as pb,
)
from neural_heatmap_contract.v1 import (
    neural_heatmap_service_pb2_grpc as pb_grpc,
)
from neural_heatmap_contract.v1 import (
    render_pb2,
    updates_pb2,
)

from . import _consumers, _errors
from . import _convert as cv
from ._anomaly_cache import AnomalyCache
from ._config import BridgeConfig
from ._fanout import Fanout
from ._handlers import Ctx, streaming, unary
from ._ingest import IngestBudget, ingest
from ._mailbox import Kind, Subscription
from ._matrix_wire import correlation_response_wire
from ._metrics import Metrics
from ._read_cache import ANOMALIES, FRAMES, VIEW, ReadCache, cached, writes
from ._scalars import seconds
from ._stream_hooks import NO_HOOKS, StreamHooksFactory, no_hooks
from ._tensors import correlation_from_json
from ._upstream import CallOptions, Upstream, segment
from ._validate import require_models

DOWNLOAD_CHUNK = 1 << 20
_CORRELATION = http("GetCorrelationMatrix")
_RENDER = http("RenderHeatmap")
# Room for the fields around a tensor's bytes when checking the send limit.
_ENVELOPE = 64 * 1024

_KIND_OF_TYPE = {
    updates_pb2.UPDATE_TYPE_HEATMAP: Kind.HEATMAP,
    updates_pb2.UPDATE_TYPE_CORRELATION: Kind.CORRELATION,
    updates_pb2.UPDATE_TYPE_TEMPORAL: Kind.TEMPORAL,
    updates_pb2.UPDATE_TYPE_ANOMALY: Kind.ANOMALY,
    updates_pb2.UPDATE_TYPE_VIEW: Kind.VIEW,
}


def _csv(values: Any) -> str:
    return ",".join(str(v) for v in values)


def _use_view_filter(use: bool) -> tuple[str, str]:
    """Always sent: the server treats a request without it as a seed client's, which
    the stored filter applies to (docs/http-api.md, "The view filter")."""
    return ("use_view_filter", "true" if use else "false")


def _time_range_params(
    request: pb.GetCorrelationMatrixRequest | render_pb2.RenderHeatmapRequest,
) -> list[tuple[str, str]]:
    """A request's time_range as the server's start_time/end_time (seconds)."""
    params = []
    if request.HasField("time_range"):
        if request.time_range.HasField("start"):
            params.append(("start_time", repr(seconds(request.time_range.start))))
        if request.time_range.HasField("end"):
            params.append(("end_time", repr(seconds(request.time_range.end))))
    return params


def _unit_params(
    request: pb.GetTemporalPatternsRequest | pb.GetTemporalStatisticsRequest,
) -> dict[str, str]:
    """``granularity`` and the server's one ``unit`` list (``0-15,40``) from the indices and
    ranges: consecutive indices become one range, so the list stays short however many
    units are named. A backwards range is sent as written for the server to refuse."""
    params: dict[str, str] = {}
    if request.granularity:
        params["granularity"] = enums.word(enums.GRANULARITY, request.granularity)
    spans = sorted({(u, u) for u in request.units})
    merged: list[tuple[int, int]] = []
    for first, last in spans:
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    items = [str(a) if a == b else f"{a}-{b}" for a, b in merged]
    items += [f"{r.first}-{r.last}" for r in request.unit_ranges]
    if items:
        params["unit"] = ",".join(items)
    return params


class NeuralHeatmapBridge(pb_grpc.NeuralHeatmapServiceServicer):
    """The servicer: every RPC translated to the upstream's HTTP/WebSocket API.

    Args:
        config: Bridge configuration (limits, batching, timeouts).
        upstream: The pooled HTTP client.
        fanout: The shared upstream WebSocket and its subscribers.
        metrics: Where ingestion outcomes are counted.
        anomalies: Converted anomalies by sequence (shared with the fan-out).
        read_cache: Answers of hot reads (None: a disabled one).
        stream_hooks: Gives each anomaly stream its hooks as it opens (``_stream_hooks``;
            production: none).
    """

    def __init__(
        self,
        config: BridgeConfig,
        upstream: Upstream,
        fanout: Fanout,
        metrics: Metrics,
        anomalies: AnomalyCache | None = None,
        read_cache: ReadCache | None = None,
        stream_hooks: StreamHooksFactory = no_hooks,
    ) -> None:
        self._config = config
        self.read_cache = read_cache or ReadCache(False, 0, metrics)
        self._anomalies = anomalies or AnomalyCache(config.anomaly_cache)
        self._metrics = metrics
        self._up = upstream
        self._fanout = fanout
        self._stream_hooks = stream_hooks
        self._ingest_budget = IngestBudget(config.ingest_buffer_bytes, metrics)

    def _opts(self, context: Ctx) -> CallOptions:
        return CallOptions.of(context, self._config.upstream_timeout)

    # ------------------------------------------------------------ discovery and analytics
    @unary
    @cached(FRAMES)
    async def ListModels(
        self, request: pb.ListModelsRequest, context: Ctx
    ) -> pb.ListModelsResponse:
        params = {"include_units": "true"} if request.include_units else {}
        doc = await self._up.get_json(http("ListModels").path, self._opts(context), params)
        return pb.ListModelsResponse(models=[cv.model(m) for m in doc.get("models") or []])

    @unary
    @cached(FRAMES, VIEW)
    async def GetCorrelationMatrix(
        self, request: pb.GetCorrelationMatrixRequest, context: Ctx
    ) -> pb.GetCorrelationMatrixResponse:
        # One parameter per id, never a comma list: an id may contain a comma.
        params = [("model_id", m) for m in request.model_ids]
        params += [("layer_id", layer) for layer in request.layer_ids]
        params.append(_use_view_filter(request.use_view_filter))
        if request.granularity:
            params.append(("granularity", enums.word(enums.GRANULARITY, request.granularity)))
        params += _time_range_params(request)
        resp = await self._up.call(
            _CORRELATION.method,
            _CORRELATION.path,
            self._opts(context),
            params=params,
            headers={"Accept": f"{MATRIX_MEDIA_TYPE}, application/json;q=0.5"},
        )
        if resp.content_type == MATRIX_MEDIA_TYPE:
            # Serialized here, the floats copied once (see correlation_response_wire);
            # the method's serializer (_server) passes bytes through.
            head = pb.GetCorrelationMatrixResponse()
            wire = correlation_response_wire(resp.body, head)
            shape = list(head.matrix.matrix.shape)
            self._check_size(shape[0] * shape[1] * 4, shape)
            return cast(pb.GetCorrelationMatrixResponse, wire)
        answer = pb.GetCorrelationMatrixResponse()  # filled in place: no copy of the matrix
        matrix = correlation_from_json(resp.json(_CORRELATION.operation), answer.matrix)
        self._check_size(len(matrix.matrix.data), list(matrix.matrix.shape))
        return answer

    @unary
    async def RenderHeatmap(
        self, request: render_pb2.RenderHeatmapRequest, context: Ctx
    ) -> render_pb2.RenderHeatmapResponse:
        # The server draws (RenderHeatmap's route); the stored filter fills the selection and
        # masks the canvas, as the live view shows it.
        params = [("kind", enums.word(enums.RENDER_KIND, request.kind) or "heatmap")]
        if request.model_id:
            params.append(("model_id", request.model_id))
        params += [("layer_id", layer) for layer in request.layer_ids]
        params.append(_use_view_filter(True))
        if request.theme:
            params.append(("theme", enums.word(enums.THEME, request.theme)))
        if request.custom_colors:
            params.append(("custom_colors", _csv(request.custom_colors)))
        params += [
            (k, str(v)) for k, v in (("width", request.width), ("height", request.height)) if v
        ]
        params += _time_range_params(request)
        resp = await self._up.call(_RENDER.method, _RENDER.path, self._opts(context), params=params)
        return render_pb2.RenderHeatmapResponse(
            png=resp.body,
            width=int(resp.headers.get("X-Render-Width", "0")),
            height=int(resp.headers.get("X-Render-Height", "0")),
            theme=enums.THEME.get(resp.headers.get("X-Render-Theme", ""), 0),
            kind=enums.RENDER_KIND.get(resp.headers.get("X-Render-Kind", ""), 0),
            empty=resp.headers.get("X-Render-Empty", "").lower() == "true",
            warnings=cv.warning_from_header(resp.headers.get("X-Render-Warning")),
        )

    def _check_size(self, data_bytes: int, shape: list[int]) -> None:
        size = data_bytes + _ENVELOPE
        if size > self._config.max_send_bytes:
            raise _errors.too_large(
                f"the correlation matrix {shape} needs about {size} bytes, "
                f"more than the bridge's --max-send-bytes {self._config.max_send_bytes}; "
                "ask for fewer layers or raise the limit on bridge and client",
                bytes=size,
                max_send_bytes=self._config.max_send_bytes,
            )

    @unary
    async def GetTemporalPatterns(
        self, request: pb.GetTemporalPatternsRequest, context: Ctx
    ) -> pb.GetTemporalPatternsResponse:
        params = dict([_use_view_filter(request.use_view_filter)])
        if request.model_id:
            params["model_id"] = request.model_id
        if request.time_window:
            params["time_window"] = str(request.time_window)
        if request.pattern_types:
            params["pattern_types"] = _csv(
                enums.word(enums.PATTERN_TYPE, t) for t in request.pattern_types
            )
        if request.layer_id:
            params["layer_id"] = request.layer_id
        params.update(_unit_params(request))
        doc = await self._up.get_json(http("GetTemporalPatterns").path, self._opts(context), params)
        return pb.GetTemporalPatternsResponse(
            patterns=[cv.temporal_pattern(p) for p in doc.get("patterns") or []]
        )

    @unary
    @cached(FRAMES, VIEW)
    async def GetTemporalStatistics(
        self, request: pb.GetTemporalStatisticsRequest, context: Ctx
    ) -> pb.GetTemporalStatisticsResponse:
        params = dict([_use_view_filter(request.use_view_filter)])
        if request.model_id:
            params["model_id"] = request.model_id
        if request.layer_id:
            params["layer_id"] = request.layer_id
        params.update(_unit_params(request))
        doc = await self._up.get_json(
            http("GetTemporalStatistics").path, self._opts(context), params
        )
        return pb.GetTemporalStatisticsResponse(statistics=cv.temporal_statistics(doc))

    @unary
    async def GetLayerHealth(
        self, request: pb.GetLayerHealthRequest, context: Ctx
    ) -> pb.GetLayerHealthResponse:
        params: dict[str, str] = {}
        if request.model_id:
            params["model_id"] = request.model_id
        if request.layer_id:
            params["layer_id"] = request.layer_id
        if request.top_k:
            params["top_k"] = str(request.top_k)
        doc = await self._up.get_json(http("GetLayerHealth").path, self._opts(context), params)
        layers = doc.get("layers") if isinstance(doc.get("layers"), list) else []
        assert isinstance(layers, list)
        return pb.GetLayerHealthResponse(
            layers=[cv.layer_health(x) for x in layers if isinstance(x, dict)]
        )

    @unary
    @cached(ANOMALIES)
    async def GetAnomalies(
        self, request: pb.GetAnomaliesRequest, context: Ctx
    ) -> pb.GetAnomaliesResponse:
        params: list[tuple[str, str]] = []
        if request.severity:
            params.append(("severity", enums.word(enums.SEVERITY, request.severity)))
        if request.min_severity:
            params.append(("min_severity", enums.word(enums.SEVERITY, request.min_severity)))
        if request.limit:
            params.append(("limit", str(request.limit)))
        # The old single field and the list together, one parameter per id (as for
        # GetCorrelationMatrix); a repeated id is sent once.
        wanted = [request.model_id] if request.model_id else []
        params += [("model_id", m) for m in dict.fromkeys([*wanted, *request.model_ids])]
        if request.HasField("after_sequence"):
            params.append(("after_sequence", str(request.after_sequence)))
        doc = await self._up.get_json(http("GetAnomalies").path, self._opts(context), params)
        if request.HasField("after_sequence") and "last_sequence" not in doc:
            raise _errors.unimplemented(
                f"{http('GetAnomalies').operation}?after_sequence",
                "the upstream's anomalies carry no sequence",
            )
        return pb.GetAnomaliesResponse(
            anomalies=self._anomalies.convert(doc.get("anomalies")),
            last_sequence=int(doc.get("last_sequence") or 0),
            first_sequence=int(doc.get("first_sequence") or 0),
        )

    @unary
    async def CompareModels(
        self, request: pb.CompareModelsRequest, context: Ctx
    ) -> pb.CompareModelsResponse:
        body: dict[str, Any] = {"model_ids": list(request.model_ids)}
        if request.metrics:
            body["metrics"] = list(request.metrics)
        doc = await self._up.post_json(http("CompareModels").path, self._opts(context), body)
        return pb.CompareModelsResponse(comparison=cv.comparison(doc))

    # ------------------------------------------------------------ view state
    @unary
    @writes(VIEW)
    async def SetFilter(self, request: pb.SetFilterRequest, context: Ctx) -> pb.SetFilterResponse:
        doc = await self._up.post_json(
            http("SetFilter").path, self._opts(context), cv.filter_to_json(request.filter)
        )
        stored = doc.get("filter")
        return pb.SetFilterResponse(
            filter=cv.filter_from_json(stored) if isinstance(stored, dict) else request.filter,
            warnings=cv.warnings_from_json(doc.get("warnings")),
        )

    @unary
    @writes(VIEW)
    async def ClearFilter(
        self, request: pb.ClearFilterRequest, context: Ctx
    ) -> pb.ClearFilterResponse:
        # SetFilter's route with {}: see RPC_ROUTES["ClearFilter"] in the contract.
        route = http("ClearFilter")
        await self._up.call(route.method, route.path, self._opts(context), json_body={})
        return pb.ClearFilterResponse()

    @unary
    @cached(VIEW, FRAMES)  # the warnings depend on the models known, too
    async def GetFilter(self, request: pb.GetFilterRequest, context: Ctx) -> pb.GetFilterResponse:
        route = http("GetFilter")
        resp = await self._up.call(route.method, route.path, self._opts(context))
        doc = resp.json(route.operation)
        inner = doc.get("filter")
        return pb.GetFilterResponse(
            filter=cv.filter_from_json(inner if isinstance(inner, dict) else doc),
            warnings=cv.warnings_from_header(resp.headers.get("X-Filter-Warnings")),
        )

    @unary
    @writes(VIEW)
    async def SetTheme(self, request: pb.SetThemeRequest, context: Ctx) -> pb.SetThemeResponse:
        body: dict[str, Any] = {"theme": enums.word(enums.THEME, request.theme)}
        if request.custom_colors:
            body["custom_colors"] = list(request.custom_colors)
        doc = await self._up.post_json(http("SetTheme").path, self._opts(context), body)
        stored = doc.get("theme")
        if isinstance(stored, dict):
            return pb.SetThemeResponse(theme=cv.theme_from_json(stored))
        if isinstance(stored, str):
            return pb.SetThemeResponse(theme=cv.theme_from_json(doc))
        return pb.SetThemeResponse(theme=cv.theme_from_json(body))

    @unary
    @cached(VIEW)
    async def GetTheme(self, request: pb.GetThemeRequest, context: Ctx) -> pb.GetThemeResponse:
        doc = await self._up.get_json(http("GetTheme").path, self._opts(context))
        inner = doc.get("theme")
        return pb.GetThemeResponse(
            theme=cv.theme_from_json(inner if isinstance(inner, dict) else doc)
        )

    @unary
    @writes(VIEW)
    async def SetLayout(self, request: pb.SetLayoutRequest, context: Ctx) -> pb.SetLayoutResponse:
        doc = await self._up.post_json(
            http("SetLayout").path, self._opts(context), cv.layout_to_json(request.layout)
        )
        stored = doc.get("layout")
        return pb.SetLayoutResponse(
            layout=cv.layout_from_json(stored) if isinstance(stored, dict) else request.layout
        )

    @unary
    @cached(VIEW)
    async def GetLayout(self, request: pb.GetLayoutRequest, context: Ctx) -> pb.GetLayoutResponse:
        doc = await self._up.get_json(http("GetLayout").path, self._opts(context))
        inner = doc.get("layout")
        return pb.GetLayoutResponse(
            layout=cv.layout_from_json(inner if isinstance(inner, dict) else doc)
        )

    # ------------------------------------------------------------ exports
    @unary
    async def ExportCorrelationMatrix(
        self, request: pb.ExportCorrelationMatrixRequest, context: Ctx
    ) -> pb.ExportCorrelationMatrixResponse:
        fmt = enums.word(enums.EXPORT_FORMAT, request.format)
        body: dict[str, Any] = {
            "filename": request.filename,
            "format": fmt,
            "use_view_filter": request.use_view_filter,
        }
        if request.model_ids:
            body["model_ids"] = list(request.model_ids)
        if request.layer_ids:
            body["layer_ids"] = list(request.layer_ids)
        doc = await self._up.post_json(
            http("ExportCorrelationMatrix").path, self._opts(context), body
        )
        return pb.ExportCorrelationMatrixResponse(result=cv.export_result(doc, request.format))

    @unary
    async def ListExports(
        self, request: pb.ListExportsRequest, context: Ctx
    ) -> pb.ListExportsResponse:
        doc = await self._up.get_json(http("ListExports").path, self._opts(context))
        files = doc.get("files", doc.get("exports")) or []
        return pb.ListExportsResponse(
            files=[cv.exported_file(f) for f in files if isinstance(f, dict)]
        )

    @streaming
    async def DownloadExport(
        self, request: pb.DownloadExportRequest, context: Ctx
    ) -> AsyncIterator[pb.DownloadExportResponse]:
        # _validate checked the name (1-2 plain parts); each part is one URL segment.
        route = http("DownloadExport")
        path = route.fill(name="/".join(segment(part) for part in request.name.split("/")))
        async with self._up.open(route.method, path, self._opts(context)) as resp:
            total = resp.content_length or 0
            offset = 0
            buf = bytearray()
            async for piece in resp.content.iter_chunked(DOWNLOAD_CHUNK):
                buf += piece
                while len(buf) >= DOWNLOAD_CHUNK:
                    chunk = bytes(buf[:DOWNLOAD_CHUNK])
                    del buf[:DOWNLOAD_CHUNK]
                    yield pb.DownloadExportResponse(chunk=chunk, offset=offset, total_size=total)
                    offset += len(chunk)
            if buf or offset == 0:
                yield pb.DownloadExportResponse(chunk=bytes(buf), offset=offset, total_size=total)

    # ------------------------------------------------------------ live streams
    def _encoded(self, wrapper: type[Message], field: str, update: Message) -> Any:
        """The stream response around ``update``, serialized once for every stream
        (``_shared_updates``); the method's serializer passes the bytes through."""
        return self._fanout.shared.response(wrapper, field, update)

    @streaming
    async def SubscribeHeatmap(
        self, request: pb.SubscribeHeatmapRequest, context: Ctx
    ) -> AsyncIterator[pb.SubscribeHeatmapResponse]:
        await require_models(self._up, self._opts(context), request)
        sub = Subscription(
            kinds={Kind.HEATMAP},
            model_ids=set(request.model_ids),
            layer_ids=set(request.layer_ids),
        )
        async for _, update in self._fanout.stream(sub, self._opts(context), context):
            assert isinstance(update, updates_pb2.HeatmapUpdate)
            yield self._encoded(pb.SubscribeHeatmapResponse, "update", update)

    @streaming
    async def SubscribeCorrelations(
        self, request: pb.SubscribeCorrelationsRequest, context: Ctx
    ) -> AsyncIterator[pb.SubscribeCorrelationsResponse]:
        async for _, update in self._fanout.stream(
            Subscription(kinds={Kind.CORRELATION}), self._opts(context), context
        ):
            assert isinstance(update, updates_pb2.CorrelationUpdate)
            yield self._encoded(pb.SubscribeCorrelationsResponse, "update", update)

    @streaming
    async def SubscribeTemporal(
        self, request: pb.SubscribeTemporalRequest, context: Ctx
    ) -> AsyncIterator[pb.SubscribeTemporalResponse]:
        async for _, update in self._fanout.stream(
            Subscription(kinds={Kind.TEMPORAL}), self._opts(context), context
        ):
            assert isinstance(update, updates_pb2.TemporalUpdate)
            yield self._encoded(pb.SubscribeTemporalResponse, "update", update)

    @streaming
    async def SubscribeAnomalies(
        self, request: pb.SubscribeAnomaliesRequest, context: Ctx
    ) -> AsyncIterator[pb.SubscribeAnomaliesResponse]:
        _consumers.check_request(request)
        if not request.consumer:  # a durable consumer resumes, like after_sequence
            await require_models(self._up, self._opts(context), request)
        if request.shared:
            async for item in _consumers.group_stream(
                self._up,
                self._anomalies,
                request.consumer,
                self._opts(context),
                self._config.page_size,
                self._config.heartbeat_interval,
            ):
                if isinstance(item, updates_pb2.AnomalyHeartbeat):
                    yield pb.SubscribeAnomaliesResponse(heartbeat=item)
                else:
                    yield pb.SubscribeAnomaliesResponse(update=item)
            return
        after: int | None = None
        if request.consumer:
            after = await _consumers.cursor(self._up, request.consumer, self._opts(context))
        elif request.HasField("after_sequence"):
            after = request.after_sequence
        sub = Subscription(
            kinds={Kind.ANOMALY},
            model_ids=set(request.model_ids),
            min_severity=request.min_severity,
            after_sequence=after,
            hooks=self._stream_hooks(),
        )
        async for _, update in self._fanout.stream(sub, self._opts(context), context):
            if isinstance(update, updates_pb2.AnomalyHeartbeat):
                yield pb.SubscribeAnomaliesResponse(heartbeat=update)
                continue
            assert isinstance(update, updates_pb2.AnomalyUpdate)
            yield self._encoded(pb.SubscribeAnomaliesResponse, "update", update)

    @unary
    async def AckAnomalies(
        self, request: pb.AckAnomaliesRequest, context: Ctx
    ) -> pb.AckAnomaliesResponse:
        _consumers.check_name(request.consumer, "consumer")
        acked = await _consumers.ack(
            self._up, request.consumer, request.sequence, self._opts(context)
        )
        return pb.AckAnomaliesResponse(acked_sequence=acked)

    @streaming
    async def StreamUpdates(
        self, request: pb.StreamUpdatesRequest, context: Ctx
    ) -> AsyncIterator[pb.StreamUpdatesResponse]:
        await require_models(self._up, self._opts(context), request)
        kinds = {_KIND_OF_TYPE[t] for t in request.types if t in _KIND_OF_TYPE} or (
            set(Kind) - {Kind.VIEW}  # the view only when named (updates.proto)
        )
        sub = Subscription(
            kinds=kinds,
            model_ids=set(request.model_ids),
            min_severity=request.min_severity,
            after_sequence=request.after_sequence if request.HasField("after_sequence") else None,
            hooks=self._stream_hooks() if Kind.ANOMALY in kinds else NO_HOOKS,
        )
        async for kind, update in self._fanout.stream(sub, self._opts(context), context):
            if isinstance(update, updates_pb2.AnomalyHeartbeat):
                yield pb.StreamUpdatesResponse(anomaly_heartbeat=update)
            else:
                yield self._encoded(pb.StreamUpdatesResponse, kind.value, update)

    # ------------------------------------------------------------ ingestion
    @unary
    @writes(ANOMALIES, FRAMES)
    async def IngestActivations(
        self, request_iterator: AsyncIterator[pb.IngestActivationsRequest], context: Ctx
    ) -> pb.IngestActivationsResponse:
        return await ingest(
            self._up,
            request_iterator,
            lambda: self._opts(context),
            self._config,
            self._metrics,
            self._ingest_budget,
        )
