package dev.neuralheatmap;

import com.google.protobuf.Message;
import io.grpc.Status;
import java.util.List;

/** gRPC {@code PERMISSION_DENIED}: The caller may not do this. */
public class PermissionDeniedException extends NeuralHeatmapException {
  private static final long serialVersionUID = 1L;

  /**
   * A {@code PERMISSION_DENIED} failure.
   *
   * @param message the status message
   * @param details decoded {@code google.rpc} details
   * @param cause the grpc-java exception, or null
   */
  public PermissionDeniedException(String message, List<Message> details, Throwable cause) {
    super(Status.Code.PERMISSION_DENIED, message, details, cause);
  }
}
