package dev.neuralheatmap;

import com.google.protobuf.Message;
import io.grpc.Status;
import java.util.List;

/** gRPC {@code INTERNAL}: The server or bridge broke an invariant. */
public class InternalException extends NeuralHeatmapException {
  private static final long serialVersionUID = 1L;

  /**
   * A {@code INTERNAL} failure.
   *
   * @param message the status message
   * @param details decoded {@code google.rpc} details
   * @param cause the grpc-java exception, or null
   */
  public InternalException(String message, List<Message> details, Throwable cause) {
    super(Status.Code.INTERNAL, message, details, cause);
  }
}
