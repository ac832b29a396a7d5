package dev.neuralheatmap;

import com.google.protobuf.Message;
import io.grpc.Status;
import java.util.List;

/** gRPC {@code RESOURCE_EXHAUSTED}: A limit was reached or the server is overloaded; see {@link #retryDelay()}. */
public class ResourceExhaustedException extends NeuralHeatmapException {
  private static final long serialVersionUID = 1L;

  /**
   * A {@code RESOURCE_EXHAUSTED} failure.
   *
   * @param message the status message
   * @param details decoded {@code google.rpc} details
   * @param cause the grpc-java exception, or null
   */
  public ResourceExhaustedException(String message, List<Message> details, Throwable cause) {
    super(Status.Code.RESOURCE_EXHAUSTED, message, details, cause);
  }
}
