package dev.neuralheatmap;

import com.google.protobuf.Message;
import io.grpc.Status;
import java.util.List;

/** gRPC {@code UNAVAILABLE}: The bridge or its server cannot be reached now; idempotent calls are retried first. */
public class UnavailableException extends NeuralHeatmapException {
  private static final long serialVersionUID = 1L;

  /**
   * A {@code UNAVAILABLE} failure.
   *
   * @param message the status message
   * @param details decoded {@code google.rpc} details
   * @param cause the grpc-java exception, or null
   */
  public UnavailableException(String message, List<Message> details, Throwable cause) {
    super(Status.Code.UNAVAILABLE, message, details, cause);
  }
}
