package dev.neuralheatmap;

import com.google.common.util.concurrent.FutureCallback;
import com.google.common.util.concurrent.Futures;
import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import dev.neuralheatmap.v1.*;
import dev.neuralheatmap.v1.NeuralHeatmapServiceGrpc.NeuralHeatmapServiceBlockingStub;
import dev.neuralheatmap.v1.NeuralHeatmapServiceGrpc.NeuralHeatmapServiceFutureStub;
import dev.neuralheatmap.v1.NeuralHeatmapServiceGrpc.NeuralHeatmapServiceStub;
import io.grpc.CallCredentials;
import io.grpc.ChannelCredentials;
import io.grpc.Deadline;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.AbstractStub;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * The Java client of the Neural Heatmap gRPC bridge: one method for every RPC of {@code
 * neural_heatmap.v1.NeuralHeatmapService}, on the message classes and the grpc-java stubs
 * ({@code NeuralHeatmapServiceGrpc}) generated from protos/ at build time ({@code
 * dev.neuralheatmap.v1}). The stubs make the calls; this class adds what they do not: retries,
 * timeouts, typed exceptions, decoded matrices and resumable anomaly streams.
 *
 * <ul>
 *   <li>Unary and client-streaming calls come blocking ({@code listModels(...)}) and async
 *       ({@code listModelsAsync(...)}, a {@link CompletableFuture}).
 *   <li>Calls the protos declare idempotent ({@code idempotency_level}, read through {@link
 *       Policy#retrySafe}: queries, the {@code Set*}/{@code ClearFilter} calls, which replace
 *       state, the export, which rewrites the same file, acknowledgements, and downloads before
 *       their first byte) are retried on the policy's codes ({@link Policy#UNARY_RETRY_CODES})
 *       with the shared {@link Backoff}, within the call's timeout; {@code IngestActivations}
 *       never is (a retry could store frames twice).
 *   <li>Server streams are blocking iterators ({@link ServerStream}); {@link
 *       #subscribeAnomalies} resumes after the last sequence it received, exactly once.
 *   <li>{@link #consume} runs a durable named consumer whose cursor the service keeps ({@link
 *       DurableConsumer}).
 *   <li>Every failure is a {@link NeuralHeatmapException} subclass of its status code.
 *   <li>Correlation matrices and tensors are {@code float[]} with a shape ({@link Matrix}, {@link
 *       Tensors}).
 * </ul>
 *
 * <pre>{@code
 * try (var client = NeuralHeatmapClient.builder("localhost:50051").build()) {
 *   Matrix m = client.getCorrelationMatrix(
 *       GetCorrelationMatrixRequest.newBuilder().addModelIds("mlp-a").build());
 *   System.out.println(m.labels() + " " + m.at(0, 1));
 * }
 * }</pre>
 */
public final class NeuralHeatmapClient implements AutoCloseable {
  /** The bridge's customary address ({@link Policy#BRIDGE_ADDRESS}). */
  public static final String DEFAULT_ADDRESS = Policy.BRIDGE_ADDRESS;

  /** gRPC's 4 MiB default raised, in both directions ({@link Policy#MAX_MESSAGE_BYTES}). */
  public static final int DEFAULT_MAX_MESSAGE_BYTES = Policy.MAX_MESSAGE_BYTES;

  /** Frames per {@code IngestActivationsRequest} message when ingesting a list of frames. */
  public static final int INGEST_BATCH = 500;

  private final ManagedChannel channel;
  private final int maxMessageBytes;
  private final CallCredentials callCredentials;
  private final NeuralHeatmapServiceFutureStub futureStub;
  private final NeuralHeatmapServiceBlockingStub blockingStub;
  private final NeuralHeatmapServiceStub asyncStub;
  private final Duration timeout;
  private final Backoff retry;
  private final ScheduledExecutorService scheduler;
  private final ExecutorService blockingWork;
  private final Set<DurableConsumer> consumers = ConcurrentHashMap.newKeySet();

  private NeuralHeatmapClient(Builder b) {
    ChannelCredentials credentials;
    if (b.trustedCertificates != null) {
      try {
        credentials = TlsChannelCredentials.newBuilder().trustManager(b.trustedCertificates).build();
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read " + b.trustedCertificates, e);
      }
    } else if (b.tls) {
      credentials = TlsChannelCredentials.create();
    } else {
      credentials = InsecureChannelCredentials.create();
    }
    var channelBuilder =
        Grpc.newChannelBuilder(b.address, credentials)
            .maxInboundMessageSize(b.maxMessageBytes)
            .maxInboundMetadataSize(1 << 20);
    if (b.authority != null) {
      channelBuilder.overrideAuthority(b.authority);
    }
    this.channel = channelBuilder.build();
    this.maxMessageBytes = b.maxMessageBytes;
    this.callCredentials =
        b.token == null
            ? null
            : new BearerToken(b.token, b.allowInsecureToken || isLoopback(b.address));
    this.futureStub = configured(NeuralHeatmapServiceGrpc.newFutureStub(channel));
    this.blockingStub = configured(NeuralHeatmapServiceGrpc.newBlockingStub(channel));
    this.asyncStub = configured(NeuralHeatmapServiceGrpc.newStub(channel));
    this.timeout = b.timeout;
    this.retry = b.retry;
    this.scheduler =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "neural-heatmap-retry");
              t.setDaemon(true);
              return t;
            });
    this.blockingWork =
        Executors.newCachedThreadPool(
            r -> {
              Thread t = new Thread(r, "neural-heatmap-call");
              t.setDaemon(true);
              return t;
            });
  }

  /** A builder for a client of the bridge at {@code address} ("host:port"). */
  public static Builder builder(String address) {
    return new Builder(address);
  }

  /** Options of a client; {@link #build()} makes it. */
  public static final class Builder {
    private final String address;
    private boolean tls;
    private File trustedCertificates;
    private String authority;
    private String token;
    private boolean allowInsecureToken;
    private Duration timeout = Duration.ofSeconds(30);
    private Backoff retry = Backoff.DEFAULT;
    private int maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;

    private Builder(String address) {
      if (address.startsWith("http://") || address.startsWith("https://") || address.startsWith("ws")) {
        throw new IllegalArgumentException(
            address
                + " is a URL; the client talks gRPC to the bridge: give its host:port (e.g. "
                + DEFAULT_ADDRESS
                + "), not the server's HTTP address");
      }
      this.address = address;
    }

    /** Connect with TLS, trusting the system's roots. */
    public Builder tls() {
      this.tls = true;
      return this;
    }

    /** Connect with TLS, trusting the PEM certificates in this file (a private CA). */
    public Builder tls(File trustedCertificates) {
      this.tls = true;
      this.trustedCertificates = trustedCertificates;
      return this;
    }

    /** The name expected in the bridge's certificate, when it differs from the address's host. */
    public Builder authority(String authority) {
      this.authority = authority;
      return this;
    }

    /**
     * Send {@code authorization: Bearer <token>} on every call. Over plaintext only to a loopback
     * address (localhost, 127.0.0.0/8, ::1, a Unix socket) unless {@link #allowInsecureToken()};
     * {@link #build()} refuses otherwise, with the same words as the Python, Go and TypeScript
     * SDKs.
     */
    public Builder token(String token) {
      this.token = token;
      return this;
    }

    /** Allow the bearer token over plaintext to a non-loopback address (a network you trust). */
    public Builder allowInsecureToken() {
      this.allowInsecureToken = true;
      return this;
    }

    /** Each unary call's deadline, retries included (default 30 s). */
    public Builder timeout(Duration timeout) {
      this.timeout = timeout;
      return this;
    }

    /** The backoff between retries of idempotent calls (default: the shared policy). */
    public Builder retry(Backoff backoff) {
      this.retry = backoff;
      return this;
    }

    /** The largest message in either direction (default 256 MiB). */
    public Builder maxMessageBytes(int bytes) {
      this.maxMessageBytes = bytes;
      return this;
    }

    /** The client; the connection is made on the first call. */
    public NeuralHeatmapClient build() {
      if (token != null && !tls && !allowInsecureToken && !isLoopback(address)) {
        throw new IllegalStateException(
            "neural heatmap: refusing to send a bearer token over plaintext to "
                + address
                + "; use TLS, a loopback address, or opt in explicitly (Python"
                + " insecure_token=True, TypeScript insecureToken: true, Go WithInsecureToken(),"
                + " Java allowInsecureToken())");
      }
      return new NeuralHeatmapClient(this);
    }
  }

  /**
   * The contract's and this SDK's version ({@code protos/VERSION}); same MAJOR (before 1.0: same
   * MINOR) as {@link #bridgeVersion()} means compatible (docs/clients.md).
   */
  public static final String VERSION = "0.2.0";

  /** The response header in which the bridge reports its version on every RPC. */
  public static final String VERSION_HEADER = "x-neural-heatmap-version";

  private static final Metadata.Key<String> VERSION_KEY =
      Metadata.Key.of(VERSION_HEADER, Metadata.ASCII_STRING_MARSHALLER);

  /**
   * The version the bridge reports in its {@code x-neural-heatmap-version} header, read from one
   * ListModels call; "" from a bridge too old to send one.
   *
   * @throws NeuralHeatmapException when the call fails
   */
  public String bridgeVersion() {
    var headers = new AtomicReference<Metadata>();
    var trailers = new AtomicReference<Metadata>();
    try {
      blockingStub
          .withInterceptors(MetadataUtils.newCaptureMetadataInterceptor(headers, trailers))
          .withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS)
          .listModels(ListModelsRequest.getDefaultInstance());
    } catch (StatusRuntimeException e) {
      throw NeuralHeatmapException.from(e);
    }
    Metadata h = headers.get();
    String v = h == null ? null : h.get(VERSION_KEY);
    return v == null ? "" : v;
  }

  /** True for a Unix socket, localhost or a loopback IP literal (no name lookup). */
  static boolean isLoopback(String address) {
    String a = address.toLowerCase(java.util.Locale.ROOT);
    if (a.startsWith("unix:")) {
      return true;
    }
    for (String prefix : new String[] {"dns:///", "dns:", "ipv4:", "ipv6:"}) {
      if (a.startsWith(prefix)) {
        a = a.substring(prefix.length());
        break;
      }
    }
    int colon = a.lastIndexOf(':');
    String host = colon > 0 && a.substring(colon + 1).matches("\\d+") ? a.substring(0, colon) : a;
    host = host.replace("[", "").replace("]", "");
    if (host.equals("localhost") || host.endsWith(".localhost")) {
      return true;
    }
    if (!host.matches("[0-9.]+") && !host.contains(":")) {
      return false; // a name: never looked up
    }
    try {
      return InetAddress.getByName(host).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }

  /** The channel, for stubs of other services (health, reflection) on the same connection. */
  public ManagedChannel channel() {
    return channel;
  }

  // ------------------------------------------------------------------ models

  /** Every model with its layers (with {@code includeUnits}, every unit's canvas location). */
  public List<Model> listModels(boolean includeUnits) {
    return join(listModelsAsync(includeUnits));
  }

  /** {@link #listModels} without blocking. */
  public CompletableFuture<List<Model>> listModelsAsync(boolean includeUnits) {
    var req = ListModelsRequest.newBuilder().setIncludeUnits(includeUnits).build();
    return unary(
        NeuralHeatmapServiceGrpc.getListModelsMethod(),
        stub -> stub.listModels(req)).thenApply(ListModelsResponse::getModelsList);
  }

  /** CKA similarity between two or more models and per-metric comparisons. */
  public ModelComparison compareModels(CompareModelsRequest request) {
    return join(compareModelsAsync(request));
  }

  /** {@link #compareModels} without blocking. */
  public CompletableFuture<ModelComparison> compareModelsAsync(CompareModelsRequest request) {
    return unary(
        NeuralHeatmapServiceGrpc.getCompareModelsMethod(), stub -> stub.compareModels(request))
        .thenApply(CompareModelsResponse::getComparison);
  }

  // ------------------------------------------------------------------ analytics

  /** The Pearson correlation matrix, decoded into {@code float[]}. */
  public Matrix getCorrelationMatrix(GetCorrelationMatrixRequest request) {
    return join(getCorrelationMatrixAsync(request));
  }

  /** {@link #getCorrelationMatrix} without blocking. */
  public CompletableFuture<Matrix> getCorrelationMatrixAsync(GetCorrelationMatrixRequest request) {
    return unary(
        NeuralHeatmapServiceGrpc.getGetCorrelationMatrixMethod(),
        stub -> stub.getCorrelationMatrix(request))
        .thenApply(r -> Matrix.of(r.getMatrix()));
  }

  /**
   * The periodic, trend and state-change patterns found in activity series; with {@code
   * GRANULARITY_UNIT} in each selected unit's own series ({@code units}, {@code unit_ranges};
   * every unit by default), each pattern naming its {@code unit} and {@code location}.
   */
  public List<TemporalPattern> getTemporalPatterns(GetTemporalPatternsRequest request) {
    return join(getTemporalPatternsAsync(request));
  }

  /** {@link #getTemporalPatterns} without blocking. */
  public CompletableFuture<List<TemporalPattern>> getTemporalPatternsAsync(
      GetTemporalPatternsRequest request) {
    return unary(
        NeuralHeatmapServiceGrpc.getGetTemporalPatternsMethod(),
        stub -> stub.getTemporalPatterns(request))
        .thenApply(GetTemporalPatternsResponse::getPatternsList);
  }

  /**
   * Per-layer temporal statistics; with {@code GRANULARITY_UNIT} also per selected unit
   * ({@code units}) and the units that oscillate ({@code oscillating_units}).
   */
  public TemporalStatistics getTemporalStatistics(GetTemporalStatisticsRequest request) {
    return join(getTemporalStatisticsAsync(request));
  }

  /** {@link #getTemporalStatistics} without blocking. */
  public CompletableFuture<TemporalStatistics> getTemporalStatisticsAsync(
      GetTemporalStatisticsRequest request) {
    return unary(
        NeuralHeatmapServiceGrpc.getGetTemporalStatisticsMethod(),
        stub -> stub.getTemporalStatistics(request))
        .thenApply(GetTemporalStatisticsResponse::getStatistics);
  }

  /**
   * Each layer's dead and saturated units (index, canvas cell, since which step) and the units
   * with the largest recent spike scores, however few units are affected.
   */
  public List<LayerHealth> getLayerHealth(GetLayerHealthRequest request) {
    return join(getLayerHealthAsync(request));
  }

  /** {@link #getLayerHealth} without blocking. */
  public CompletableFuture<List<LayerHealth>> getLayerHealthAsync(GetLayerHealthRequest request) {
    return unary(
        NeuralHeatmapServiceGrpc.getGetLayerHealthMethod(), stub -> stub.getLayerHealth(request))
        .thenApply(GetLayerHealthResponse::getLayersList);
  }

  /** A page of logged anomalies (with the log's first and last sequence). */
  public GetAnomaliesResponse getAnomalies(GetAnomaliesRequest request) {
    return join(getAnomaliesAsync(request));
  }

  /** {@link #getAnomalies} without blocking. */
  public CompletableFuture<GetAnomaliesResponse> getAnomaliesAsync(GetAnomaliesRequest request) {
    return unary(
        NeuralHeatmapServiceGrpc.getGetAnomaliesMethod(), stub -> stub.getAnomalies(request));
  }

  // ------------------------------------------------------------------ view state

  /** Replaces the stored view filter; returns the filter now in force. */
  public Filter setFilter(Filter filter) {
    return join(setFilterAsync(filter));
  }

  /** {@link #setFilter} without blocking. */
  public CompletableFuture<Filter> setFilterAsync(Filter filter) {
    var req = SetFilterRequest.newBuilder().setFilter(filter).build();
    return unary(
        NeuralHeatmapServiceGrpc.getSetFilterMethod(),
        stub -> stub.setFilter(req)).thenApply(SetFilterResponse::getFilter);
  }

  /** Removes the stored view filter. */
  public void clearFilter() {
    join(clearFilterAsync());
  }

  /** {@link #clearFilter} without blocking. */
  public CompletableFuture<Void> clearFilterAsync() {
    return unary(
        NeuralHeatmapServiceGrpc.getClearFilterMethod(),
        stub -> stub.clearFilter(ClearFilterRequest.getDefaultInstance()))
        .thenApply(r -> null);
  }

  /** The stored view filter (empty when none). */
  public Filter getFilter() {
    return join(getFilterAsync());
  }

  /** {@link #getFilter} without blocking. */
  public CompletableFuture<Filter> getFilterAsync() {
    return unary(
        NeuralHeatmapServiceGrpc.getGetFilterMethod(),
        stub -> stub.getFilter(GetFilterRequest.getDefaultInstance()))
        .thenApply(GetFilterResponse::getFilter);
  }

  /** Replaces the theme ({@code customColors}, "#rrggbb", only for THEME_CUSTOM). */
  public ThemeSettings setTheme(Theme theme, String... customColors) {
    return join(setThemeAsync(theme, customColors));
  }

  /** {@link #setTheme} without blocking. */
  public CompletableFuture<ThemeSettings> setThemeAsync(Theme theme, String... customColors) {
    var req =
        SetThemeRequest.newBuilder().setTheme(theme).addAllCustomColors(List.of(customColors)).build();
    return unary(
        NeuralHeatmapServiceGrpc.getSetThemeMethod(),
        stub -> stub.setTheme(req)).thenApply(SetThemeResponse::getTheme);
  }

  /** The theme in force. */
  public ThemeSettings getTheme() {
    return join(getThemeAsync());
  }

  /** {@link #getTheme} without blocking. */
  public CompletableFuture<ThemeSettings> getThemeAsync() {
    return unary(
        NeuralHeatmapServiceGrpc.getGetThemeMethod(),
        stub -> stub.getTheme(GetThemeRequest.getDefaultInstance()))
        .thenApply(GetThemeResponse::getTheme);
  }

  /** Replaces the layout; returns the layout now in force. */
  public Layout setLayout(Layout layout) {
    return join(setLayoutAsync(layout));
  }

  /** {@link #setLayout} without blocking. */
  public CompletableFuture<Layout> setLayoutAsync(Layout layout) {
    var req = SetLayoutRequest.newBuilder().setLayout(layout).build();
    return unary(
        NeuralHeatmapServiceGrpc.getSetLayoutMethod(),
        stub -> stub.setLayout(req)).thenApply(SetLayoutResponse::getLayout);
  }

  /** The layout in force. */
  public Layout getLayout() {
    return join(getLayoutAsync());
  }

  /** {@link #getLayout} without blocking. */
  public CompletableFuture<Layout> getLayoutAsync() {
    return unary(
        NeuralHeatmapServiceGrpc.getGetLayoutMethod(),
        stub -> stub.getLayout(GetLayoutRequest.getDefaultInstance()))
        .thenApply(GetLayoutResponse::getLayout);
  }

  // ------------------------------------------------------------------ rendering

  /**
   * A PNG of the heatmap canvas or the correlation matrix, drawn by the server in a theme (the
   * stored one when the request names none). Idempotent: retried like a query.
   */
  public RenderedImage renderHeatmap(RenderHeatmapRequest request) {
    return join(renderHeatmapAsync(request));
  }

  /** {@link #renderHeatmap} without blocking. */
  public CompletableFuture<RenderedImage> renderHeatmapAsync(RenderHeatmapRequest request) {
    return unary(
        NeuralHeatmapServiceGrpc.getRenderHeatmapMethod(),
        stub -> stub.renderHeatmap(request)).thenApply(RenderedImage::of);
  }

  // ------------------------------------------------------------------ durable consumers

  /**
   * Acknowledges a durable consumer's anomalies (docs/reliability.md, "Durable consumers"): for a
   * plain consumer every sequence up to {@code sequence}, for a member of a group ({@code
   * shared}) that one anomaly. Returns the consumer's acknowledged cursor afterwards. {@link
   * #consume} calls it after each handled anomaly. Idempotent: retried like a query.
   */
  public long ackAnomalies(String consumer, long sequence) {
    return join(ackAnomaliesAsync(consumer, sequence));
  }

  /** {@link #ackAnomalies} without blocking. */
  public CompletableFuture<Long> ackAnomaliesAsync(String consumer, long sequence) {
    AckAnomaliesRequest req =
        AckAnomaliesRequest.newBuilder().setConsumer(consumer).setSequence(sequence).build();
    return unary(
        NeuralHeatmapServiceGrpc.getAckAnomaliesMethod(), stub -> stub.ackAnomalies(req))
        .thenApply(AckAnomaliesResponse::getAckedSequence);
  }

  /**
   * Starts the durable consumer {@code consumer} with the default options: a plain consumer of
   * every anomaly (see {@link #consume(String, AnomalyHandler, ConsumeOptions)}).
   */
  public DurableConsumer consume(String consumer, AnomalyHandler handler) {
    return consume(consumer, handler, ConsumeOptions.defaults());
  }

  /**
   * Starts the durable consumer {@code consumer} on a thread of the client's and returns it
   * running: it hands every anomaly to {@code handler} and acknowledges each once the handler
   * returns; the service keeps the cursor, so a consumer started again under the name resumes
   * after the last acknowledgement with no state of the caller's (see {@link DurableConsumer}
   * for reconnects and how it ends). A new name starts with the anomalies logged from its first
   * subscription on. {@link DurableConsumer#close()} (or closing this client) stops it.
   *
   * @param consumer the name the service keeps the cursor under (1-64 letters, digits, '-',
   *     '_'; the bridge refuses others with INVALID_ARGUMENT, which ends the consumer)
   * @param handler called with each anomaly, one at a time, in the order received
   * @param options {@code shared(true)} to join the group of that name, filters, backoff
   */
  public DurableConsumer consume(String consumer, AnomalyHandler handler, ConsumeOptions options) {
    var request =
        SubscribeAnomaliesRequest.newBuilder()
            .setConsumer(Objects.requireNonNull(consumer, "consumer"))
            .setShared(options.shared())
            .setMinSeverity(options.minSeverity())
            .addAllModelIds(options.modelIds())
            .build();
    var running =
        new DurableConsumer(
            consumer,
            Objects.requireNonNull(handler, "handler"),
            options.backoff(),
            () -> serverStream(stub -> stub.subscribeAnomalies(request), r -> r),
            this);
    consumers.add(running);
    running.done().whenComplete((v, e) -> consumers.remove(running));
    blockingWork.execute(running::run);
    return running;
  }

  // ------------------------------------------------------------------ exports

  /** Writes the correlation matrix into the server's export directory; returns what it wrote. */
  public ExportResult exportCorrelationMatrix(ExportCorrelationMatrixRequest request) {
    return join(exportCorrelationMatrixAsync(request));
  }

  /** {@link #exportCorrelationMatrix} without blocking. */
  public CompletableFuture<ExportResult> exportCorrelationMatrixAsync(
      ExportCorrelationMatrixRequest request) {
    return unary(
        NeuralHeatmapServiceGrpc.getExportCorrelationMatrixMethod(),
        stub -> stub.exportCorrelationMatrix(request))
        .thenApply(ExportCorrelationMatrixResponse::getResult);
  }

  /** The files in the server's export directory. */
  public List<ExportedFile> listExports() {
    return join(listExportsAsync());
  }

  /** {@link #listExports} without blocking. */
  public CompletableFuture<List<ExportedFile>> listExportsAsync() {
    return unary(
        NeuralHeatmapServiceGrpc.getListExportsMethod(),
        stub -> stub.listExports(ListExportsRequest.getDefaultInstance()))
        .thenApply(ListExportsResponse::getFilesList);
  }

  /**
   * Writes the bytes of an exported file to {@code out} and returns how many were written. A
   * failure before the first byte is retried like a query; after it, it is thrown (the caller
   * owns {@code out} and decides whether to start over). Chunks must arrive contiguous.
   */
  public long downloadExport(String name, OutputStream out) {
    var req = DownloadExportRequest.newBuilder().setName(name).build();
    boolean retrySafe =
        Policy.retrySafe(NeuralHeatmapServiceGrpc.getDownloadExportMethod().getBareMethodName());
    Deadline deadline = deadlineFromNow();
    int failures = 0;
    while (true) {
      long written = 0;
      try (ServerStream<DownloadExportResponse> chunks =
          serverStream(stub -> stub.withDeadline(deadline).downloadExport(req), r -> r)) {
        while (chunks.hasNext()) {
          DownloadExportResponse chunk = chunks.next();
          if (chunk.getOffset() != written) {
            throw NeuralHeatmapException.forCode(
                io.grpc.Status.Code.DATA_LOSS,
                "chunk at offset " + chunk.getOffset() + " after " + written + " bytes of " + name,
                List.of(),
                null);
          }
          chunk.getChunk().writeTo(out);
          written += chunk.getChunk().size();
        }
        return written;
      } catch (IOException e) {
        throw new UncheckedIOException("writing " + name, e);
      } catch (NeuralHeatmapException e) {
        Duration delay = retryDelay(e, failures, deadline);
        if (written > 0 || !retrySafe || delay == null) {
          throw e;
        }
        failures++;
        sleep(delay);
      }
    }
  }

  /** {@link #downloadExport} on a thread of the client's. */
  public CompletableFuture<Long> downloadExportAsync(String name, OutputStream out) {
    return CompletableFuture.supplyAsync(() -> downloadExport(name, out), blockingWork);
  }

  // ------------------------------------------------------------------ live streams

  /** Heatmap frames as they arrive (a slow reader gets the newest frame per layer). */
  public ServerStream<HeatmapUpdate> subscribeHeatmap(SubscribeHeatmapRequest request) {
    return serverStream(stub -> stub.subscribeHeatmap(request), SubscribeHeatmapResponse::getUpdate);
  }

  /** Correlation matrices as the server recomputes them ({@link Matrix#of} decodes each). */
  public ServerStream<CorrelationUpdate> subscribeCorrelations() {
    return serverStream(
        stub -> stub.subscribeCorrelations(SubscribeCorrelationsRequest.getDefaultInstance()),
        SubscribeCorrelationsResponse::getUpdate);
  }

  /** Temporal patterns as the server recomputes them. */
  public ServerStream<TemporalUpdate> subscribeTemporal() {
    return serverStream(
        stub -> stub.subscribeTemporal(SubscribeTemporalRequest.getDefaultInstance()),
        SubscribeTemporalResponse::getUpdate);
  }

  /**
   * Every anomaly after {@code options.afterSequence()}, exactly once and in order, reopening
   * the stream after the last sequence received when it breaks (see {@link AnomalyStream}).
   * Without {@code afterSequence} it first reads the log head and starts after it.
   */
  public AnomalyStream subscribeAnomalies(SubscribeOptions options) {
    long after =
        options.afterSequence() != null
            ? options.afterSequence()
            : getAnomalies(GetAnomaliesRequest.newBuilder().setLimit(1).build()).getLastSequence();
    var base =
        SubscribeAnomaliesRequest.newBuilder()
            .setMinSeverity(options.minSeverity())
            .addAllModelIds(options.modelIds())
            .build();
    return new AnomalyStream(
        seq ->
            serverStream(
                stub -> stub.subscribeAnomalies(base.toBuilder().setAfterSequence(seq).build()),
                r -> r),
        after,
        options,
        scheduler);
  }

  /**
   * Several kinds of update on one call. Anomaly heartbeats (the anomaly part is idle but
   * alive) are not returned; every other kind is, view updates included (the stored filter,
   * theme and layout: only when the request names {@code UPDATE_TYPE_VIEW}). This stream does
   * not reopen itself: for anomalies that survive reconnects use {@link #subscribeAnomalies}.
   */
  public ServerStream<StreamUpdatesResponse> streamUpdates(StreamUpdatesRequest request) {
    return serverStream(
        stub -> stub.streamUpdates(request),
        r -> r.getUpdateCase() == StreamUpdatesResponse.UpdateCase.ANOMALY_HEARTBEAT ? null : r);
  }

  // ------------------------------------------------------------------ ingestion

  /**
   * Sends activation frames ({@link #INGEST_BATCH} per message) on one call and returns how
   * many the server stored and why others were refused. Never retried: a retry could store
   * frames twice.
   */
  public IngestActivationsResponse ingestActivations(List<ActivationFrame> frames) {
    return join(ingestActivationsAsync(frames));
  }

  /** {@link #ingestActivations} without blocking; the frames are sent as the transport allows. */
  public CompletableFuture<IngestActivationsResponse> ingestActivationsAsync(
      List<ActivationFrame> frames) {
    List<IngestActivationsRequest> messages = new ArrayList<>();
    for (int i = 0; i < frames.size(); i += INGEST_BATCH) {
      var batch = frames.subList(i, Math.min(frames.size(), i + INGEST_BATCH));
      messages.add(IngestActivationsRequest.newBuilder().addAllFrames(batch).build());
    }
    return clientStream(NeuralHeatmapServiceStub::ingestActivations, messages);
  }

  // ------------------------------------------------------------------ plumbing

  /** A generated stub with the client's call options: message size limit and bearer token. */
  private <S extends AbstractStub<S>> S configured(S stub) {
    S out = stub.withMaxOutboundMessageSize(maxMessageBytes);
    return callCredentials == null ? out : out.withCallCredentials(callCredentials);
  }

  private Deadline deadlineFromNow() {
    return Deadline.after(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  /**
   * A unary call of {@code method}; one the protos declare retry-safe ({@link Policy#retrySafe}:
   * idempotency_level NO_SIDE_EFFECTS or IDEMPOTENT) is retried on the policy's codes within the
   * timeout.
   */
  private <Resp> CompletableFuture<Resp> unary(
      MethodDescriptor<?, Resp> method,
      Function<NeuralHeatmapServiceFutureStub, ListenableFuture<Resp>> call) {
    boolean idempotent = Policy.retrySafe(method.getBareMethodName());
    Deadline deadline = deadlineFromNow();
    CompletableFuture<Resp> result = new CompletableFuture<>();
    AtomicReference<ListenableFuture<Resp>> inFlight = new AtomicReference<>();
    result.whenComplete(
        (r, e) -> {
          ListenableFuture<Resp> f = inFlight.get();
          if (result.isCancelled() && f != null) {
            f.cancel(true);
          }
        });
    attempt(call, idempotent, deadline, 0, result, inFlight);
    return result;
  }

  private <Resp> void attempt(
      Function<NeuralHeatmapServiceFutureStub, ListenableFuture<Resp>> call,
      boolean idempotent,
      Deadline deadline,
      int failures,
      CompletableFuture<Resp> result,
      AtomicReference<ListenableFuture<Resp>> inFlight) {
    if (result.isDone()) {
      return;
    }
    ListenableFuture<Resp> response = call.apply(futureStub.withDeadline(deadline));
    inFlight.set(response);
    Futures.addCallback(
        response,
        new FutureCallback<Resp>() {
          @Override
          public void onSuccess(Resp value) {
            result.complete(value);
          }

          @Override
          public void onFailure(Throwable t) {
            NeuralHeatmapException e = NeuralHeatmapException.from(t);
            Duration delay = idempotent ? retryDelay(e, failures, deadline) : null;
            if (delay == null) {
              result.completeExceptionally(e);
              return;
            }
            scheduler.schedule(
                () -> attempt(call, true, deadline, failures + 1, result, inFlight),
                delay.toNanos(),
                TimeUnit.NANOSECONDS);
          }
        },
        MoreExecutors.directExecutor());
  }

  /** The wait before retrying after {@code e}, or null when it is not retried. */
  private Duration retryDelay(NeuralHeatmapException e, int failures, Deadline deadline) {
    if (!Policy.UNARY_RETRY_CODES.contains(e.code()) || !retry.allows(failures)) {
      return null;
    }
    Duration delay = retry.delay(failures);
    return delay.toNanos() < deadline.timeRemaining(TimeUnit.NANOSECONDS) ? delay : null;
  }

  /** A server-streaming call on the blocking stub, read as a {@link ServerStream}. */
  private <Resp, T> ServerStream<T> serverStream(
      Function<NeuralHeatmapServiceBlockingStub, Iterator<Resp>> call, Function<Resp, T> item) {
    return new ServerStream<>(() -> call.apply(blockingStub), item);
  }

  /** A client-streaming call: sends every message as the transport is ready, then half-closes. */
  private <Req, Resp> CompletableFuture<Resp> clientStream(
      BiFunction<NeuralHeatmapServiceStub, StreamObserver<Resp>, StreamObserver<Req>> call,
      List<Req> messages) {
    CompletableFuture<Resp> result = new CompletableFuture<>();
    AtomicReference<ClientCallStreamObserver<Req>> started = new AtomicReference<>();
    call.apply(
        asyncStub.withDeadline(deadlineFromNow()),
        new ClientResponseObserver<Req, Resp>() {
          private int sent;

          @Override
          public void beforeStart(ClientCallStreamObserver<Req> requests) {
            started.set(requests);
            requests.setOnReadyHandler(
                () -> {
                  while (requests.isReady() && sent < messages.size()) {
                    requests.onNext(messages.get(sent++));
                  }
                  if (sent == messages.size()) {
                    sent++; // half-close once
                    requests.onCompleted();
                  }
                });
          }

          @Override
          public void onNext(Resp value) {
            result.complete(value);
          }

          @Override
          public void onError(Throwable t) {
            result.completeExceptionally(NeuralHeatmapException.from(t));
          }

          @Override
          public void onCompleted() {
            if (!result.isDone()) {
              result.completeExceptionally(
                  NeuralHeatmapException.forCode(
                      io.grpc.Status.Code.INTERNAL, "the call ended without a response", List.of(), null));
            }
          }
        });
    result.whenComplete(
        (r, e) -> {
          if (result.isCancelled()) {
            started.get().cancel("cancelled by the caller", null);
          }
        });
    return result;
  }

  /** The result of a future, its failure thrown as the typed exception. */
  static <T> T join(CompletableFuture<T> future) {
    try {
      return future.join();
    } catch (CompletionException | java.util.concurrent.CancellationException e) {
      throw NeuralHeatmapException.from(e);
    }
  }

  private static void sleep(Duration d) {
    try {
      Thread.sleep(d.toMillis(), (int) (d.toNanos() % 1_000_000));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw NeuralHeatmapException.forCode(io.grpc.Status.Code.CANCELLED, "interrupted", List.of(), e);
    }
  }

  /**
   * Stops the running durable consumers (waiting for their handlers), then closes the
   * connection (waiting up to 5 s for calls in flight) and the client's threads.
   */
  @Override
  public void close() {
    consumers.forEach(DurableConsumer::close);
    channel.shutdown();
    try {
      if (!channel.awaitTermination(5, TimeUnit.SECONDS)) {
        channel.shutdownNow();
      }
    } catch (InterruptedException e) {
      channel.shutdownNow();
      Thread.currentThread().interrupt();
    }
    scheduler.shutdownNow();
    blockingWork.shutdownNow();
  }
}
