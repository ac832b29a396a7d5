package dev.neuralheatmap;

import com.google.protobuf.Message;
import io.grpc.Status;
import java.util.List;

/** gRPC {@code FAILED_PRECONDITION}: The server is not in a state to do this (e.g. no data yet). */
public class FailedPreconditionException extends NeuralHeatmapException {
  private static final long serialVersionUID = 1L;

  /**
   * A {@code FAILED_PRECONDITION} failure.
   *
   * @param message the status message
   * @param details decoded {@code google.rpc} details
   * @param cause the grpc-java exception, or null
   */
  public FailedPreconditionException(String message, List<Message> details, Throwable cause) {
    super(Status.Code.FAILED_PRECONDITION, message, details, cause);
  }
}
