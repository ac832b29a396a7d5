package dev.neuralheatmap;

import com.google.protobuf.Message;
import io.grpc.Status;
import java.util.List;

/** gRPC {@code DATA_LOSS}: Data was lost or corrupted. */
public class DataLossException extends NeuralHeatmapException {
  private static final long serialVersionUID = 1L;

  /**
   * A {@code DATA_LOSS} failure.
   *
   * @param message the status message
   * @param details decoded {@code google.rpc} details
   * @param cause the grpc-java exception, or null
   */
  public DataLossException(String message, List<Message> details, Throwable cause) {
    super(Status.Code.DATA_LOSS, message, details, cause);
  }
}
