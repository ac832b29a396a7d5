package dev.neuralheatmap;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.rpc.BadRequest;
import com.google.rpc.DebugInfo;
import com.google.rpc.ErrorInfo;
import com.google.rpc.Help;
import com.google.rpc.LocalizedMessage;
import com.google.rpc.PreconditionFailure;
import com.google.rpc.QuotaFailure;
import com.google.rpc.RequestInfo;
import com.google.rpc.ResourceInfo;
import com.google.rpc.RetryInfo;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * Every failed call of {@link NeuralHeatmapClient}: the gRPC status code, the server's message,
 * and the {@code google.rpc} details the bridge attached ({@code ErrorInfo} with its stable
 * {@link #reason()}, {@code BadRequest} naming the field, {@code RetryInfo}, ...).
 *
 * <p>Each status code has its own subclass ({@link NotFoundException}, {@link
 * InvalidArgumentException}, {@link UnauthenticatedException}, {@link UnavailableException},
 * ...), so callers catch what they handle; {@link #from} is the one place where grpc-java's
 * exceptions become these. The original exception stays attached as the cause.
 */
public class NeuralHeatmapException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The google.rpc detail messages this client decodes from a status; others stay {@link Any}. */
  private static final List<Message> DETAIL_TYPES =
      List.of(
          ErrorInfo.getDefaultInstance(),
          RetryInfo.getDefaultInstance(),
          DebugInfo.getDefaultInstance(),
          QuotaFailure.getDefaultInstance(),
          PreconditionFailure.getDefaultInstance(),
          BadRequest.getDefaultInstance(),
          RequestInfo.getDefaultInstance(),
          ResourceInfo.getDefaultInstance(),
          Help.getDefaultInstance(),
          LocalizedMessage.getDefaultInstance());

  private final transient Status.Code code;
  private final String statusMessage;
  private final transient List<Message> details;

  /**
   * An error with a status code, the server's message and decoded details.
   *
   * @param code the gRPC status code
   * @param message the status message
   * @param details decoded {@code google.rpc} detail messages
   * @param cause the grpc-java exception, or null
   */
  public NeuralHeatmapException(
      Status.Code code, String message, List<Message> details, Throwable cause) {
    super(code + " " + message + reasonSuffix(details), cause);
    this.code = code;
    this.statusMessage = message;
    this.details = List.copyOf(details);
  }

  /** The gRPC status code. */
  public Status.Code code() {
    return code;
  }

  /** The status message the server (or grpc-java) gave. */
  public String statusMessage() {
    return statusMessage;
  }

  /** The decoded {@code google.rpc} details ({@code ErrorInfo}, {@code BadRequest}, ...). */
  public List<Message> details() {
    return details;
  }

  /** The first detail of this type, if any (e.g. {@code detail(BadRequest.class)}). */
  public <T extends Message> Optional<T> detail(Class<T> type) {
    return details.stream().filter(type::isInstance).map(type::cast).findFirst();
  }

  /** {@code ErrorInfo.reason}: a stable upper-case code such as {@code "SEQUENCE_EXPIRED"}. */
  public Optional<String> reason() {
    return errorInfo().map(ErrorInfo::getReason).filter(r -> !r.isEmpty());
  }

  /** {@code ErrorInfo.domain}, if the status carries an ErrorInfo. */
  public Optional<String> domain() {
    return errorInfo().map(ErrorInfo::getDomain).filter(d -> !d.isEmpty());
  }

  /** {@code ErrorInfo.metadata} (e.g. {@code "field"} for a refused request field). */
  public Map<String, String> errorMetadata() {
    return errorInfo().map(ErrorInfo::getMetadataMap).orElse(Map.of());
  }

  /** {@code RetryInfo.retry_delay}: how long the server asks the caller to wait (overload). */
  public Optional<Duration> retryDelay() {
    return detail(RetryInfo.class)
        .filter(RetryInfo::hasRetryDelay)
        .map(r -> Duration.ofSeconds(r.getRetryDelay().getSeconds(), r.getRetryDelay().getNanos()));
  }

  private Optional<ErrorInfo> errorInfo() {
    return detail(ErrorInfo.class);
  }

  private static String reasonSuffix(List<Message> details) {
    return details.stream()
        .filter(ErrorInfo.class::isInstance)
        .map(d -> ((ErrorInfo) d).getReason())
        .filter(r -> !r.isEmpty())
        .findFirst()
        .map(r -> " [reason=" + r + "]")
        .orElse("");
  }

  /**
   * The exception for a failed call: grpc-java's {@link StatusRuntimeException} or {@link
   * StatusException} (also wrapped in a {@link CompletionException} or {@link
   * ExecutionException}) becomes the subclass of its status code; one of ours is returned as it
   * is; anything else becomes an {@code UNKNOWN} error (a {@link CancellationException} a
   * {@code CANCELLED} one). grpc-java reports a call written on a connection the peer had
   * already closed as {@code UNKNOWN: channel closed} (a {@link ClosedChannelException}, see
   * grpc/grpc-java#10120); that is a lost connection, so it becomes {@code UNAVAILABLE} and the
   * shared retry and reconnect rules apply to it as to every other lost connection.
   *
   * @param error what the call threw
   * @return the typed exception, never null
   */
  public static NeuralHeatmapException from(Throwable error) {
    Throwable t = error;
    while ((t instanceof CompletionException || t instanceof ExecutionException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    if (t instanceof NeuralHeatmapException known) {
      return known;
    }
    Status status;
    if (t instanceof StatusRuntimeException || t instanceof StatusException) {
      status = Status.fromThrowable(t);
      if (status.getCode() == Status.Code.UNKNOWN && status.getCause() instanceof ClosedChannelException) {
        status = Status.UNAVAILABLE.withDescription("connection lost: " + status.getDescription());
      }
    } else if (t instanceof CancellationException) {
      status = Status.CANCELLED.withDescription("cancelled").withCause(t);
    } else {
      status = Status.UNKNOWN.withDescription(String.valueOf(t)).withCause(t);
    }
    List<Message> details = decodeDetails(t);
    String message = status.getDescription() == null ? "" : status.getDescription();
    return forCode(status.getCode(), message, details, t);
  }

  private static List<Message> decodeDetails(Throwable t) {
    com.google.rpc.Status proto = StatusProto.fromThrowable(t);
    if (proto == null) {
      return List.of();
    }
    List<Message> out = new ArrayList<>();
    for (Any any : proto.getDetailsList()) {
      out.add(decode(any));
    }
    return out;
  }

  private static Message decode(Any any) {
    for (Message type : DETAIL_TYPES) {
      if (any.is(type.getClass().asSubclass(Message.class))) {
        try {
          return any.unpack(type.getClass().asSubclass(Message.class));
        } catch (InvalidProtocolBufferException e) {
          return any;
        }
      }
    }
    return any;
  }

  /** The subclass for a status code. */
  static NeuralHeatmapException forCode(
      Status.Code code, String message, List<Message> details, Throwable cause) {
    return switch (code) {
      case CANCELLED -> new CancelledException(message, details, cause);
      case UNKNOWN -> new UnknownException(message, details, cause);
      case INVALID_ARGUMENT -> new InvalidArgumentException(message, details, cause);
      case DEADLINE_EXCEEDED -> new DeadlineExceededException(message, details, cause);
      case NOT_FOUND -> new NotFoundException(message, details, cause);
      case ALREADY_EXISTS -> new AlreadyExistsException(message, details, cause);
      case PERMISSION_DENIED -> new PermissionDeniedException(message, details, cause);
      case RESOURCE_EXHAUSTED -> new ResourceExhaustedException(message, details, cause);
      case FAILED_PRECONDITION -> new FailedPreconditionException(message, details, cause);
      case ABORTED -> new AbortedException(message, details, cause);
      case OUT_OF_RANGE -> new OutOfRangeException(message, details, cause);
      case UNIMPLEMENTED -> new UnimplementedException(message, details, cause);
      case INTERNAL -> new InternalException(message, details, cause);
      case UNAVAILABLE -> new UnavailableException(message, details, cause);
      case DATA_LOSS -> new DataLossException(message, details, cause);
      case UNAUTHENTICATED -> new UnauthenticatedException(message, details, cause);
      case OK -> new NeuralHeatmapException(code, message, details, cause);
    };
  }
}
