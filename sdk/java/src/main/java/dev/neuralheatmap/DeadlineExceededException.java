package dev.neuralheatmap;

import com.google.protobuf.Message;
import io.grpc.Status;
import java.util.List;

/** gRPC {@code DEADLINE_EXCEEDED}: The call's deadline (or the server's time per request) passed. */
public class DeadlineExceededException extends NeuralHeatmapException {
  private static final long serialVersionUID = 1L;

  /**
   * A {@code DEADLINE_EXCEEDED} failure.
   *
   * @param message the status message
   * @param details decoded {@code google.rpc} details
   * @param cause the grpc-java exception, or null
   */
  public DeadlineExceededException(String message, List<Message> details, Throwable cause) {
    super(Status.Code.DEADLINE_EXCEEDED, message, details, cause);
  }
}
