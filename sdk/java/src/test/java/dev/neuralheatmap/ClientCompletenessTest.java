package dev.neuralheatmap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.neuralheatmap.v1.NeuralHeatmapServiceGrpc;
import io.grpc.MethodDescriptor;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * One surface, checked: every RPC of the service, as the generated stubs know it, has a
 * hand-written client method (plus an {@code ...Async} one for unary and client-streaming
 * RPCs). A new RPC in the protos regenerates {@code NeuralHeatmapServiceGrpc} and fails this
 * test until the client has it.
 */
class ClientCompletenessTest {
  /** Client method names that differ from the RPC name in lowerCamelCase. */
  private static final Map<String, String> RENAMED = Map.of();

  private static Collection<MethodDescriptor<?, ?>> rpcs() {
    return NeuralHeatmapServiceGrpc.getServiceDescriptor().getMethods();
  }

  private static String clientMethod(String rpc) {
    return RENAMED.getOrDefault(rpc, Character.toLowerCase(rpc.charAt(0)) + rpc.substring(1));
  }

  private static Set<String> publicMethods() {
    return Arrays.stream(NeuralHeatmapClient.class.getDeclaredMethods())
        .filter(m -> Modifier.isPublic(m.getModifiers()))
        .map(Method::getName)
        .collect(Collectors.toSet());
  }

  @Test
  void everyRpcHasAHandWrittenClientMethod() {
    Set<String> methods = publicMethods();
    List<String> missing = new ArrayList<>();
    for (MethodDescriptor<?, ?> rpc : rpcs()) {
      String name = clientMethod(rpc.getBareMethodName());
      if (!methods.contains(name)) {
        missing.add(rpc.getBareMethodName() + " -> " + name);
      }
      if (rpc.getType().serverSendsOneMessage() && !methods.contains(name + "Async")) {
        missing.add(rpc.getBareMethodName() + " -> " + name + "Async");
      }
    }
    assertEquals(List.of(), missing, "RPCs without a NeuralHeatmapClient method");
    assertTrue(rpcs().size() >= 23, "the service descriptor lost RPCs: " + rpcs().size());
  }

  @Test
  void asyncMethodsReturnCompletableFutures() {
    for (Method m : NeuralHeatmapClient.class.getDeclaredMethods()) {
      if (Modifier.isPublic(m.getModifiers()) && m.getName().endsWith("Async")) {
        assertEquals(CompletableFuture.class, m.getReturnType(), m.getName());
      }
    }
  }
}
