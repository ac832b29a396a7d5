package dev.neuralheatmap;

import com.google.protobuf.Message;
import io.grpc.Status;
import java.util.List;

/** gRPC {@code INVALID_ARGUMENT}: The request was refused as it is; {@code BadRequest} names the field. */
public class InvalidArgumentException extends NeuralHeatmapException {
  private static final long serialVersionUID = 1L;

  /**
   * A {@code INVALID_ARGUMENT} failure.
   *
   * @param message the status message
   * @param details decoded {@code google.rpc} details
   * @param cause the grpc-java exception, or null
   */
  public InvalidArgumentException(String message, List<Message> details, Throwable cause) {
    super(Status.Code.INVALID_ARGUMENT, message, details, cause);
  }
}
