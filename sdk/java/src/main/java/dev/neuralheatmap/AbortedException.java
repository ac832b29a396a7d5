package dev.neuralheatmap;

import com.google.protobuf.Message;
import io.grpc.Status;
import java.util.List;

/** gRPC {@code ABORTED}: The call was aborted (a conflict); it may be repeated. */
public class AbortedException extends NeuralHeatmapException {
  private static final long serialVersionUID = 1L;

  /**
   * A {@code ABORTED} failure.
   *
   * @param message the status message
   * @param details decoded {@code google.rpc} details
   * @param cause the grpc-java exception, or null
   */
  public AbortedException(String message, List<Message> details, Throwable cause) {
    super(Status.Code.ABORTED, message, details, cause);
  }
}
