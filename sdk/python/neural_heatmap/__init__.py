"""Neural Heatmap Python SDK: the seed's API over gRPC, typed, with numpy and pandas.

The SDK talks to the Neural Heatmap **gRPC bridge** (default
``localhost:50051``), which fronts the HTTP + WebSocket server. Code written
for the seed's client runs with only the address changed::

    from neural_heatmap import connect

    async with await connect("localhost:50051") as client:
        matrix = await client.get_correlation_matrix()
        print(len(matrix.matrix), matrix.labels)

Generated protobuf modules live in ``neural_heatmap_contract.v1`` (installed with the SDK;
see docs/contract.md).
"""

from neural_heatmap_contract.version import VERSION

from neural_heatmap._analytics_types import (
    Anomaly,
    AnomalyPage,
    CorrelationMatrix,
    LayerSimilarity,
    LayerStatistics,
    ModelComparison,
    TemporalPattern,
    TemporalStatistics,
)
from neural_heatmap._channel import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TARGET
from neural_heatmap._client import NeuralHeatmapClient, connect
from neural_heatmap._enums import (
    AnomalyType,
    ExportFormat,
    Granularity,
    PatternType,
    Severity,
    UpdateType,
    VisualizationTheme,
)
from neural_heatmap._errors import (
    AbortedError,
    AlreadyExistsError,
    DataLossError,
    DeadlineExceededError,
    FailedPreconditionError,
    InternalError,
    InvalidArgumentError,
    InvalidParameterError,
    InvalidTargetError,
    NeuralHeatmapError,
    NotFoundError,
    OutOfRangeError,
    PermissionDeniedError,
    RequestCancelledError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    UnimplementedError,
    UnknownError,
    ViewFilterWarning,
    exception_class_for_code,
)
from neural_heatmap._export_types import ExportedFile, ExportResult
from neural_heatmap._ingest_types import ActivationFrame, FrameRejection, IngestSummary
from neural_heatmap._model_types import LayerInfo, ModelInfo, UnitInfo
from neural_heatmap._render_types import RenderedImage
from neural_heatmap._retry import DEFAULT_RETRY, Retry
from neural_heatmap._streaming import ReconnectPolicy
from neural_heatmap._unit_types import (
    LayerHealth,
    OscillatingUnit,
    StuckUnit,
    UnitSpike,
    UnitStatistics,
)
from neural_heatmap._update_types import (
    AnomalyUpdate,
    CorrelationUpdate,
    HeatmapUpdate,
    TemporalUpdate,
    Update,
    ViewUpdate,
)
from neural_heatmap._view_types import Filter, LayoutConfig, ThemeSettings
from neural_heatmap._websocket_client import NeuralHeatmapWebSocketClient

__version__ = VERSION

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_RETRY",
    "DEFAULT_TARGET",
    "AbortedError",
    "ActivationFrame",
    "AlreadyExistsError",
    "Anomaly",
    "AnomalyPage",
    "AnomalyType",
    "AnomalyUpdate",
    "CorrelationMatrix",
    "CorrelationUpdate",
    "DataLossError",
    "DeadlineExceededError",
    "ExportFormat",
    "ExportResult",
    "ExportedFile",
    "FailedPreconditionError",
    "Filter",
    "FrameRejection",
    "Granularity",
    "HeatmapUpdate",
    "IngestSummary",
    "InternalError",
    "InvalidArgumentError",
    "InvalidParameterError",
    "InvalidTargetError",
    "LayerHealth",
    "LayerInfo",
    "LayerSimilarity",
    "LayerStatistics",
    "LayoutConfig",
    "ModelComparison",
    "ModelInfo",
    "NeuralHeatmapClient",
    "NeuralHeatmapError",
    "NeuralHeatmapWebSocketClient",
    "NotFoundError",
    "OscillatingUnit",
    "OutOfRangeError",
    "PatternType",
    "PermissionDeniedError",
    "ReconnectPolicy",
    "RenderedImage",
    "RequestCancelledError",
    "ResourceExhaustedError",
    "Retry",
    "Severity",
    "StuckUnit",
    "TemporalPattern",
    "TemporalStatistics",
    "TemporalUpdate",
    "ThemeSettings",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "UnitInfo",
    "UnitSpike",
    "UnitStatistics",
    "UnknownError",
    "Update",
    "UpdateType",
    "ViewFilterWarning",
    "ViewUpdate",
    "VisualizationTheme",
    "__version__",
    "connect",
    "exception_class_for_code",
]
