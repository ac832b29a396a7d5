package dev.neuralheatmap;

import dev.neuralheatmap.v1.CorrelationMatrix;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * A square correlation matrix: row-major {@code float[]} values with their labels.
 *
 * @param labels one label per row (and column), e.g. {@code "model/layer"}
 * @param size rows (= columns); 0 when the matrix is empty
 * @param values {@code size * size} elements, row-major
 * @param metadata the server's metadata, integers as {@link Long}
 * @param time when the server computed it, or null
 */
public record Matrix(
    List<String> labels, int size, float[] values, Map<String, Object> metadata, Instant time) {

  /** Element (i, j). */
  public float at(int i, int j) {
    return values[i * size + j];
  }

  /** The shape, {@code [size, size]}. */
  public int[] shape() {
    return new int[] {size, size};
  }

  /** Decodes a correlation matrix message; refuses a tensor that is not square. */
  public static Matrix of(CorrelationMatrix m) {
    Instant time =
        m.hasTimestamp()
            ? Instant.ofEpochSecond(m.getTimestamp().getSeconds(), m.getTimestamp().getNanos())
            : null;
    Map<String, Object> metadata = Values.toJava(m.getMetadataMap());
    if (!m.hasMatrix() || m.getMatrix().getShapeCount() == 0) {
      return new Matrix(List.copyOf(m.getLabelsList()), 0, new float[0], metadata, time);
    }
    long[] shape = Tensors.shape(m.getMatrix());
    if (shape.length != 2 || shape[0] != shape[1]) {
      throw new IllegalArgumentException(
          "correlation matrix is not square: " + java.util.Arrays.toString(shape));
    }
    return new Matrix(
        List.copyOf(m.getLabelsList()), (int) shape[0], Tensors.floats(m.getMatrix()), metadata, time);
  }
}
