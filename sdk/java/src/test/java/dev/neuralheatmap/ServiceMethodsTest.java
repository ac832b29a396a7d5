package dev.neuralheatmap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Descriptors;
import io.grpc.MethodDescriptor;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * One surface, checked: every RPC of the service descriptor generated from protos/ has a method
 * descriptor and a hand-written client method (plus an {@code ...Async} one for unary and
 * client-streaming RPCs). A new RPC in the protos fails this test until the client has it.
 */
class ServiceMethodsTest {
  /** Client method names that differ from the RPC name in lowerCamelCase. */
  private static final Map<String, String> RENAMED = Map.of();

  private static List<Descriptors.MethodDescriptor> rpcs() {
    return ServiceMethods.SERVICE.getMethods();
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
  void everyRpcHasADescriptorOfItsKind() {
    Map<String, MethodDescriptor<?, ?>> byName =
        ServiceMethods.ALL.stream()
            .collect(Collectors.toMap(MethodDescriptor::getBareMethodName, m -> m));
    assertEquals(rpcs().size(), ServiceMethods.ALL.size(), "ServiceMethods.ALL has a duplicate or a stray");
    for (Descriptors.MethodDescriptor rpc : rpcs()) {
      MethodDescriptor<?, ?> m = byName.get(rpc.getName());
      assertTrue(m != null, "no MethodDescriptor for " + rpc.getName() + " in ServiceMethods");
      assertEquals(ServiceMethods.kind(rpc), m.getType(), rpc.getName());
      assertEquals(ServiceMethods.SERVICE_NAME + "/" + rpc.getName(), m.getFullMethodName());
    }
  }

  @Test
  void everyRpcHasAHandWrittenClientMethod() {
    Set<String> methods = publicMethods();
    List<String> missing = new ArrayList<>();
    for (Descriptors.MethodDescriptor rpc : rpcs()) {
      String name = clientMethod(rpc.getName());
      if (!methods.contains(name)) {
        missing.add(rpc.getName() + " -> " + name);
      }
      if (!rpc.isServerStreaming() && !methods.contains(name + "Async")) {
        missing.add(rpc.getName() + " -> " + name + "Async");
      }
    }
    assertEquals(List.of(), missing, "RPCs without a NeuralHeatmapClient method");
    assertTrue(rpcs().size() >= 22, "the service descriptor lost RPCs: " + rpcs().size());
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
