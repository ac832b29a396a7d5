package dev.neuralheatmap;

import com.google.protobuf.Message;
import io.grpc.Status;
import java.util.List;

/** gRPC {@code UNKNOWN}: The server failed in a way it did not classify. */
public class UnknownException extends NeuralHeatmapException {
  private static final long serialVersionUID = 1L;

  /**
   * A {@code UNKNOWN} failure.
   *
   * @param message the status message
   * @param details decoded {@code google.rpc} details
   * @param cause the grpc-java exception, or null
   */
  public UnknownException(String message, List<Message> details, Throwable cause) {
    super(Status.Code.UNKNOWN, message, details, cause);
  }
}
