package dev.neuralheatmap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import dev.neuralheatmap.v1.DataType;
import dev.neuralheatmap.v1.Tensor;
import org.junit.jupiter.api.Test;

/** Tensor bytes become float[] / double[] exactly (little-endian, row-major), and bad ones fail. */
class TensorsTest {
  @Test
  void float32RoundTripsBitForBit() {
    float[] values = {1f, -0.5f, Float.NaN, Float.MIN_VALUE, 3.4028235e38f, -0f};
    Tensor t = Tensors.float32(values, 2, 3);
    assertEquals(24, t.getData().size());
    assertEquals(0x3f, t.getData().byteAt(3) & 0xff, "little-endian 1.0f ends in 0x3f");
    assertArrayEquals(new long[] {2, 3}, Tensors.shape(t));
    float[] back = Tensors.floats(t);
    for (int i = 0; i < values.length; i++) {
      assertEquals(Float.floatToRawIntBits(values[i]), Float.floatToRawIntBits(back[i]), "element " + i);
    }
    assertEquals(-0.5, Tensors.doubles(t)[1]);
  }

  @Test
  void float64IsNarrowedAndSizesAreChecked() {
    byte[] data = new byte[16];
    java.nio.ByteBuffer.wrap(data).order(java.nio.ByteOrder.LITTLE_ENDIAN).putDouble(0.25).putDouble(-2);
    Tensor t =
        Tensor.newBuilder().addShape(2).setDtype(DataType.DATA_TYPE_FLOAT64).setData(ByteString.copyFrom(data)).build();
    assertArrayEquals(new float[] {0.25f, -2f}, Tensors.floats(t));
    Tensor shortData = t.toBuilder().addShape(2).build();
    var e = assertThrows(IllegalArgumentException.class, () -> Tensors.floats(shortData));
    assertEquals("tensor [2, 2] DATA_TYPE_FLOAT64 needs 32 bytes, got 16", e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Tensors.float32(new float[3], 2, 2));
    assertThrows(
        IllegalArgumentException.class,
        () -> Tensors.floats(t.toBuilder().setDtype(DataType.DATA_TYPE_UNSPECIFIED).build()));
  }
}
