package dev.neuralheatmap;

import com.google.protobuf.Message;
import io.grpc.Status;
import java.util.List;

/** gRPC {@code NOT_FOUND}: A model, layer or export the request names does not exist. */
public class NotFoundException extends NeuralHeatmapException {
  private static final long serialVersionUID = 1L;

  /**
   * A {@code NOT_FOUND} failure.
   *
   * @param message the status message
   * @param details decoded {@code google.rpc} details
   * @param cause the grpc-java exception, or null
   */
  public NotFoundException(String message, List<Message> details, Throwable cause) {
    super(Status.Code.NOT_FOUND, message, details, cause);
  }
}
