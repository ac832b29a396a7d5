package dev.neuralheatmap;

import com.google.protobuf.Message;
import io.grpc.Status;
import java.util.List;

/** gRPC {@code OUT_OF_RANGE}: A value is past what exists (e.g. an anomaly sequence already pruned). */
public class OutOfRangeException extends NeuralHeatmapException {
  private static final long serialVersionUID = 1L;

  /**
   * A {@code OUT_OF_RANGE} failure.
   *
   * @param message the status message
   * @param details decoded {@code google.rpc} details
   * @param cause the grpc-java exception, or null
   */
  public OutOfRangeException(String message, List<Message> details, Throwable cause) {
    super(Status.Code.OUT_OF_RANGE, message, details, cause);
  }
}
