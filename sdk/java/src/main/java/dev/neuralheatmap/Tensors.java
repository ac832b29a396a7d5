package dev.neuralheatmap;

import com.google.protobuf.ByteString;
import dev.neuralheatmap.v1.DataType;
import dev.neuralheatmap.v1.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Tensors as Java arrays: the wire carries little-endian float32 (or float64) bytes with a
 * shape; these decode them into {@code float[]} / {@code double[]} and encode frames.
 */
public final class Tensors {
  private Tensors() {}

  /** The number of elements of a shape; refuses negative dimensions and more than 2^31-1. */
  public static int elementCount(long[] shape) {
    long n = 1;
    for (long d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException("negative tensor dimension in shape " + str(shape));
      }
      n = Math.multiplyExact(n, d);
      if (n > Integer.MAX_VALUE) {
        throw new IllegalArgumentException("tensor shape " + str(shape) + " is too large for an array");
      }
    }
    return (int) n;
  }

  /** The shape of a tensor as an array. */
  public static long[] shape(Tensor t) {
    return t.getShapeList().stream().mapToLong(Long::longValue).toArray();
  }

  /** The elements as float32, row-major (a float64 tensor is narrowed). */
  public static float[] floats(Tensor t) {
    int n = elementCount(shape(t));
    ByteBuffer buf = checked(t, n).order(ByteOrder.LITTLE_ENDIAN);
    float[] out = new float[n];
    if (t.getDtype() == DataType.DATA_TYPE_FLOAT32) {
      buf.asFloatBuffer().get(out);
    } else {
      for (int i = 0; i < n; i++) {
        out[i] = (float) buf.getDouble(i * 8);
      }
    }
    return out;
  }

  /** The elements as float64, row-major (a float32 tensor is widened). */
  public static double[] doubles(Tensor t) {
    int n = elementCount(shape(t));
    ByteBuffer buf = checked(t, n).order(ByteOrder.LITTLE_ENDIAN);
    double[] out = new double[n];
    if (t.getDtype() == DataType.DATA_TYPE_FLOAT64) {
      buf.asDoubleBuffer().get(out);
    } else {
      for (int i = 0; i < n; i++) {
        out[i] = buf.getFloat(i * 4);
      }
    }
    return out;
  }

  /** A float32 tensor of the given values and shape (a vector of all values when none). */
  public static Tensor float32(float[] values, long... shape) {
    long[] dims = shape.length == 0 ? new long[] {values.length} : shape;
    if (elementCount(dims) != values.length) {
      throw new IllegalArgumentException(values.length + " values do not fill shape " + str(dims));
    }
    ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    buf.asFloatBuffer().put(values);
    Tensor.Builder b = Tensor.newBuilder().setDtype(DataType.DATA_TYPE_FLOAT32);
    for (long d : dims) {
      b.addShape(d);
    }
    return b.setData(ByteString.copyFrom(buf.array())).build();
  }

  private static ByteBuffer checked(Tensor t, int n) {
    int width =
        switch (t.getDtype()) {
          case DATA_TYPE_FLOAT32 -> 4;
          case DATA_TYPE_FLOAT64 -> 8;
          default -> throw new IllegalArgumentException("unsupported tensor dtype " + t.getDtype());
        };
    if (t.getData().size() != (long) n * width) {
      throw new IllegalArgumentException(
          "tensor "
              + str(shape(t))
              + " "
              + t.getDtype()
              + " needs "
              + (long) n * width
              + " bytes, got "
              + t.getData().size());
    }
    return t.getData().asReadOnlyByteBuffer();
  }

  private static String str(long[] shape) {
    return java.util.Arrays.toString(shape);
  }
}
