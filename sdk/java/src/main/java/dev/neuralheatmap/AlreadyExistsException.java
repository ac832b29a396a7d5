package dev.neuralheatmap;

import com.google.protobuf.Message;
import io.grpc.Status;
import java.util.List;

/** gRPC {@code ALREADY_EXISTS}: What the request would create exists already. */
public class AlreadyExistsException extends NeuralHeatmapException {
  private static final long serialVersionUID = 1L;

  /**
   * A {@code ALREADY_EXISTS} failure.
   *
   * @param message the status message
   * @param details decoded {@code google.rpc} details
   * @param cause the grpc-java exception, or null
   */
  public AlreadyExistsException(String message, List<Message> details, Throwable cause) {
    super(Status.Code.ALREADY_EXISTS, message, details, cause);
  }
}
