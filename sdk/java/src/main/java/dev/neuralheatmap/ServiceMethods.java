package dev.neuralheatmap;

import com.google.protobuf.Descriptors;
import com.google.protobuf.Message;
import dev.neuralheatmap.v1.*;
import io.grpc.MethodDescriptor;
import io.grpc.protobuf.ProtoUtils;
import java.util.List;

/**
 * The gRPC method descriptors of {@code neural_heatmap.v1.NeuralHeatmapService}, taken from the
 * service descriptor that protoc generates from protos/ at build time.
 *
 * <p>This is what grpc-java's {@code protoc-gen-grpc-java} would generate; its native binary is
 * not served by the package registry this project builds from, so the descriptors are built here
 * instead. Only the pairing of each RPC name with its generated message classes is written by
 * hand, and {@link #method} checks it against the descriptor when the class loads: a renamed
 * RPC, a changed request or response type, or a changed streaming kind fails at once (and
 * {@code ServiceMethodsTest} fails when an RPC has no descriptor here or no client method).
 */
public final class ServiceMethods {
  /** The service's full name. */
  public static final String SERVICE_NAME = "neural_heatmap.v1.NeuralHeatmapService";

  /** The service as protoc generated it from protos/. */
  public static final Descriptors.ServiceDescriptor SERVICE =
      NeuralHeatmapServiceOuterClass.getDescriptor().findServiceByName("NeuralHeatmapService");

  public static final MethodDescriptor<ListModelsRequest, ListModelsResponse> LIST_MODELS =
      method("ListModels", ListModelsRequest.getDefaultInstance(), ListModelsResponse.getDefaultInstance());
  public static final MethodDescriptor<GetCorrelationMatrixRequest, GetCorrelationMatrixResponse>
      GET_CORRELATION_MATRIX =
          method(
              "GetCorrelationMatrix",
              GetCorrelationMatrixRequest.getDefaultInstance(),
              GetCorrelationMatrixResponse.getDefaultInstance());
  public static final MethodDescriptor<GetTemporalPatternsRequest, GetTemporalPatternsResponse>
      GET_TEMPORAL_PATTERNS =
          method(
              "GetTemporalPatterns",
              GetTemporalPatternsRequest.getDefaultInstance(),
              GetTemporalPatternsResponse.getDefaultInstance());
  public static final MethodDescriptor<GetTemporalStatisticsRequest, GetTemporalStatisticsResponse>
      GET_TEMPORAL_STATISTICS =
          method(
              "GetTemporalStatistics",
              GetTemporalStatisticsRequest.getDefaultInstance(),
              GetTemporalStatisticsResponse.getDefaultInstance());
  public static final MethodDescriptor<GetAnomaliesRequest, GetAnomaliesResponse> GET_ANOMALIES =
      method("GetAnomalies", GetAnomaliesRequest.getDefaultInstance(), GetAnomaliesResponse.getDefaultInstance());
  public static final MethodDescriptor<SetFilterRequest, SetFilterResponse> SET_FILTER =
      method("SetFilter", SetFilterRequest.getDefaultInstance(), SetFilterResponse.getDefaultInstance());
  public static final MethodDescriptor<ClearFilterRequest, ClearFilterResponse> CLEAR_FILTER =
      method("ClearFilter", ClearFilterRequest.getDefaultInstance(), ClearFilterResponse.getDefaultInstance());
  public static final MethodDescriptor<GetFilterRequest, GetFilterResponse> GET_FILTER =
      method("GetFilter", GetFilterRequest.getDefaultInstance(), GetFilterResponse.getDefaultInstance());
  public static final MethodDescriptor<SetThemeRequest, SetThemeResponse> SET_THEME =
      method("SetTheme", SetThemeRequest.getDefaultInstance(), SetThemeResponse.getDefaultInstance());
  public static final MethodDescriptor<GetThemeRequest, GetThemeResponse> GET_THEME =
      method("GetTheme", GetThemeRequest.getDefaultInstance(), GetThemeResponse.getDefaultInstance());
  public static final MethodDescriptor<SetLayoutRequest, SetLayoutResponse> SET_LAYOUT =
      method("SetLayout", SetLayoutRequest.getDefaultInstance(), SetLayoutResponse.getDefaultInstance());
  public static final MethodDescriptor<GetLayoutRequest, GetLayoutResponse> GET_LAYOUT =
      method("GetLayout", GetLayoutRequest.getDefaultInstance(), GetLayoutResponse.getDefaultInstance());
  public static final MethodDescriptor<CompareModelsRequest, CompareModelsResponse> COMPARE_MODELS =
      method("CompareModels", CompareModelsRequest.getDefaultInstance(), CompareModelsResponse.getDefaultInstance());
  public static final MethodDescriptor<ExportCorrelationMatrixRequest, ExportCorrelationMatrixResponse>
      EXPORT_CORRELATION_MATRIX =
          method(
              "ExportCorrelationMatrix",
              ExportCorrelationMatrixRequest.getDefaultInstance(),
              ExportCorrelationMatrixResponse.getDefaultInstance());
  public static final MethodDescriptor<ListExportsRequest, ListExportsResponse> LIST_EXPORTS =
      method("ListExports", ListExportsRequest.getDefaultInstance(), ListExportsResponse.getDefaultInstance());
  public static final MethodDescriptor<DownloadExportRequest, DownloadExportResponse> DOWNLOAD_EXPORT =
      method("DownloadExport", DownloadExportRequest.getDefaultInstance(), DownloadExportResponse.getDefaultInstance());
  public static final MethodDescriptor<SubscribeHeatmapRequest, SubscribeHeatmapResponse> SUBSCRIBE_HEATMAP =
      method(
          "SubscribeHeatmap",
          SubscribeHeatmapRequest.getDefaultInstance(),
          SubscribeHeatmapResponse.getDefaultInstance());
  public static final MethodDescriptor<SubscribeCorrelationsRequest, SubscribeCorrelationsResponse>
      SUBSCRIBE_CORRELATIONS =
          method(
              "SubscribeCorrelations",
              SubscribeCorrelationsRequest.getDefaultInstance(),
              SubscribeCorrelationsResponse.getDefaultInstance());
  public static final MethodDescriptor<SubscribeTemporalRequest, SubscribeTemporalResponse>
      SUBSCRIBE_TEMPORAL =
          method(
              "SubscribeTemporal",
              SubscribeTemporalRequest.getDefaultInstance(),
              SubscribeTemporalResponse.getDefaultInstance());
  public static final MethodDescriptor<SubscribeAnomaliesRequest, SubscribeAnomaliesResponse>
      SUBSCRIBE_ANOMALIES =
          method(
              "SubscribeAnomalies",
              SubscribeAnomaliesRequest.getDefaultInstance(),
              SubscribeAnomaliesResponse.getDefaultInstance());
  public static final MethodDescriptor<StreamUpdatesRequest, StreamUpdatesResponse> STREAM_UPDATES =
      method("StreamUpdates", StreamUpdatesRequest.getDefaultInstance(), StreamUpdatesResponse.getDefaultInstance());
  public static final MethodDescriptor<IngestActivationsRequest, IngestActivationsResponse>
      INGEST_ACTIVATIONS =
          method(
              "IngestActivations",
              IngestActivationsRequest.getDefaultInstance(),
              IngestActivationsResponse.getDefaultInstance());
  public static final MethodDescriptor<RenderHeatmapRequest, RenderHeatmapResponse> RENDER_HEATMAP =
      method("RenderHeatmap", RenderHeatmapRequest.getDefaultInstance(), RenderHeatmapResponse.getDefaultInstance());

  /** Every descriptor above, in the service's order. */
  public static final List<MethodDescriptor<?, ?>> ALL =
      List.of(
          LIST_MODELS,
          GET_CORRELATION_MATRIX,
          GET_TEMPORAL_PATTERNS,
          GET_TEMPORAL_STATISTICS,
          GET_ANOMALIES,
          SET_FILTER,
          CLEAR_FILTER,
          GET_FILTER,
          SET_THEME,
          GET_THEME,
          SET_LAYOUT,
          GET_LAYOUT,
          COMPARE_MODELS,
          EXPORT_CORRELATION_MATRIX,
          LIST_EXPORTS,
          DOWNLOAD_EXPORT,
          SUBSCRIBE_HEATMAP,
          SUBSCRIBE_CORRELATIONS,
          SUBSCRIBE_TEMPORAL,
          SUBSCRIBE_ANOMALIES,
          STREAM_UPDATES,
          INGEST_ACTIVATIONS,
          RENDER_HEATMAP);

  private ServiceMethods() {}

  /**
   * The descriptor of one RPC, its kind (unary, server or client streaming) read from the
   * service descriptor and its message types checked against it.
   */
  static <Req extends Message, Resp extends Message> MethodDescriptor<Req, Resp> method(
      String name, Req request, Resp response) {
    Descriptors.MethodDescriptor rpc = SERVICE.findMethodByName(name);
    if (rpc == null) {
      throw new IllegalStateException(SERVICE_NAME + " has no RPC " + name + " (protos changed?)");
    }
    if (rpc.getInputType() != request.getDescriptorForType()
        || rpc.getOutputType() != response.getDescriptorForType()) {
      throw new IllegalStateException(
          name
              + " takes "
              + rpc.getInputType().getFullName()
              + " and returns "
              + rpc.getOutputType().getFullName()
              + "; ServiceMethods pairs it with "
              + request.getDescriptorForType().getFullName()
              + " and "
              + response.getDescriptorForType().getFullName());
    }
    return MethodDescriptor.<Req, Resp>newBuilder()
        .setType(kind(rpc))
        .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE_NAME, name))
        .setRequestMarshaller(ProtoUtils.marshaller(request))
        .setResponseMarshaller(ProtoUtils.marshaller(response))
        .setSampledToLocalTracing(true)
        .build();
  }

  /** The grpc-java method type of an RPC in the service descriptor. */
  public static MethodDescriptor.MethodType kind(Descriptors.MethodDescriptor rpc) {
    if (rpc.isClientStreaming()) {
      return rpc.isServerStreaming()
          ? MethodDescriptor.MethodType.BIDI_STREAMING
          : MethodDescriptor.MethodType.CLIENT_STREAMING;
    }
    return rpc.isServerStreaming()
        ? MethodDescriptor.MethodType.SERVER_STREAMING
        : MethodDescriptor.MethodType.UNARY;
  }
}
