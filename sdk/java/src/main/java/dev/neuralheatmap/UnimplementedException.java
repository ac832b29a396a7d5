package dev.neuralheatmap;

import com.google.protobuf.Message;
import io.grpc.Status;
import java.util.List;

/** gRPC {@code UNIMPLEMENTED}: The bridge does not implement this method. */
public class UnimplementedException extends NeuralHeatmapException {
  private static final long serialVersionUID = 1L;

  /**
   * A {@code UNIMPLEMENTED} failure.
   *
   * @param message the status message
   * @param details decoded {@code google.rpc} details
   * @param cause the grpc-java exception, or null
   */
  public UnimplementedException(String message, List<Message> details, Throwable cause) {
    super(Status.Code.UNIMPLEMENTED, message, details, cause);
  }
}
