package dev.neuralheatmap;

import com.google.protobuf.Message;
import io.grpc.Status;
import java.util.List;

/** gRPC {@code UNAUTHENTICATED}: No bearer token, or a wrong one, for a bridge started with {@code --token}. */
public class UnauthenticatedException extends NeuralHeatmapException {
  private static final long serialVersionUID = 1L;

  /**
   * A {@code UNAUTHENTICATED} failure.
   *
   * @param message the status message
   * @param details decoded {@code google.rpc} details
   * @param cause the grpc-java exception, or null
   */
  public UnauthenticatedException(String message, List<Message> details, Throwable cause) {
    super(Status.Code.UNAUTHENTICATED, message, details, cause);
  }
}
