package dev.neuralheatmap;

import com.google.protobuf.Message;
import io.grpc.Status;
import java.util.List;

/** gRPC {@code CANCELLED}: The call was cancelled (by the caller, or the channel shut down). */
public class CancelledException extends NeuralHeatmapException {
  private static final long serialVersionUID = 1L;

  /**
   * A {@code CANCELLED} failure.
   *
   * @param message the status message
   * @param details decoded {@code google.rpc} details
   * @param cause the grpc-java exception, or null
   */
  public CancelledException(String message, List<Message> details, Throwable cause) {
    super(Status.Code.CANCELLED, message, details, cause);
  }
}
