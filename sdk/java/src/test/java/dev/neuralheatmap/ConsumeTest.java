package dev.neuralheatmap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.neuralheatmap.v1.Anomaly;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.junit.jupiter.api.AutoClose;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * {@link NeuralHeatmapClient#consume} against a real server and bridge: the service keeps the
 * cursor (or the group's leases), the client keeps nothing. The server's group ack deadline is
 * 2 s, so a lease a failed member held comes back within the test.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConsumeTest {
  @AutoClose private LiveStack stack;
  @AutoClose private NeuralHeatmapClient client;

  @BeforeAll
  void start() {
    stack = LiveStack.withServerFlags("--consumer-ack-deadline", "2");
    client = NeuralHeatmapClient.builder(stack.target()).build();
  }

  /** Polls {@code ok} until it holds; fails with {@code what} after 30 s. */
  private static void eventually(BooleanSupplier ok, Supplier<String> what) {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (!ok.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        fail("not within 30 s: " + what.get());
      }
      LiveProcess.sleep(50);
    }
  }

  /** The consumer's acknowledged cursor (acknowledging 0 moves nothing). */
  private long cursor(String name) {
    return client.ackAnomalies(name, 0);
  }

  /** Until the service knows the name: its first subscription created it at the log's head. */
  private void awaitSubscribed(String name) {
    eventually(
        () -> {
          try {
            cursor(name);
            return true;
          } catch (NotFoundException e) {
            return false;
          }
        },
        () -> name + " never subscribed");
  }

  /** A handler that records the sequences of one model's anomalies. */
  private static AnomalyHandler recording(List<Long> into) {
    return a -> into.add(a.getSequence());
  }

  @Test
  void aConsumerResumesAfterItsLastAckWithNothingLostOrDoubled() throws Exception {
    String name = "java-billing";
    String model = "java-consume";
    var options = ConsumeOptions.defaults().modelIds(model);
    List<Long> first = new CopyOnWriteArrayList<>();
    try (DurableConsumer c = client.consume(name, recording(first), options)) {
      awaitSubscribed(name);
      stack.postNanFrames(model, 3, 0);
      eventually(() -> first.size() == 3 && cursor(name) == first.get(2), () -> "first: " + first);
      c.close();
      assertNull(c.done().get(5, TimeUnit.SECONDS), "close ends it normally");
    }
    stack.postNanFrames(model, 2, 1); // logged while no consumer runs: nothing is lost

    List<Long> second = new CopyOnWriteArrayList<>();
    DurableConsumer again = client.consume(name, recording(second), options);
    eventually(() -> second.size() == 2 && cursor(name) == second.get(1), () -> "second: " + second);
    again.done().cancel(true); // cancelling done() stops it too
    again.close();
    assertTrue(again.done().isCancelled());

    List<Long> all = new ArrayList<>(first);
    all.addAll(second);
    assertEquals(LiveStack.logged(client, model), all, "every anomaly once, in order, across the restart");
    assertEquals(first.get(2) + 1, second.get(0), "resumed right after the last acknowledgement");

    // Closing the client stops a consumer it runs.
    try (NeuralHeatmapClient other = NeuralHeatmapClient.builder(stack.target()).build()) {
      DurableConsumer last = other.consume(name, recording(new ArrayList<>()), options);
      other.close();
      assertTrue(last.done().isDone(), "the client's close stopped its consumer");
    }
  }

  @Test
  void aGroupOfTwoSplitsTheAnomaliesEachOnceAcrossTheMembers() throws Exception {
    String name = "java-crew";
    String model = "java-group";
    var member = ConsumeOptions.defaults().shared(true);
    List<Long> one = new CopyOnWriteArrayList<>();
    List<Long> two = new CopyOnWriteArrayList<>();
    AnomalyHandler toOne = a -> record(a, model, one);
    AnomalyHandler toTwo = a -> record(a, model, two);
    try (DurableConsumer m1 = client.consume(name, toOne, member)) {
      LiveProcess.sleep(100); // the two members' claims (every 0.2 s when idle) out of phase
      try (DurableConsumer m2 = client.consume(name, toTwo, member)) {
        awaitSubscribed(name);
        // Small batches until both members have taken work: each claim takes what is there.
        for (int step = 0; step < 60 && (one.isEmpty() || two.isEmpty() || step < 10); step++) {
          stack.postNanFrames(model, 2, step);
          LiveProcess.sleep(70);
        }
        List<Long> logged = LiveStack.logged(client, model);
        long last = logged.get(logged.size() - 1);
        eventually(
            () -> one.size() + two.size() >= logged.size() && cursor(name) >= last,
            () -> "one " + one + ", two " + two + " of " + logged);
        assertFalse(m1.done().isDone() || m2.done().isDone(), "both members still run");
        List<Long> union = new ArrayList<>(one);
        union.addAll(two);
        union.sort(null);
        assertEquals(logged, union, "every anomaly handled by exactly one member");
        assertFalse(one.isEmpty() || two.isEmpty(), "one member took everything: " + one + " / " + two);
        assertEquals(one.size() + two.size(), new HashSet<>(union).size());
      }
    }
  }

  private static void record(Anomaly a, String model, List<Long> into) {
    if (a.getModelId().equals(model)) {
      into.add(a.getSequence());
    }
  }

  @Test
  void aHandlerThatThrowsEndsTheConsumerAndItsAnomalyIsDeliveredAgain() throws Exception {
    String name = "java-flaky";
    String model = "java-flaky";
    var options = ConsumeOptions.defaults().modelIds(model);
    IOException refused = new IOException("downstream refused");
    List<Long> seen = new CopyOnWriteArrayList<>();
    DurableConsumer c =
        client.consume(
            name,
            a -> {
              seen.add(a.getSequence());
              if (seen.size() == 2) {
                throw refused;
              }
            },
            options);
    awaitSubscribed(name);
    stack.postNanFrames(model, 3, 0);
    var e = assertThrows(ExecutionException.class, () -> c.done().get(30, TimeUnit.SECONDS));
    assertSame(refused, e.getCause(), "the handler's exception, as it is");
    List<Long> logged = LiveStack.logged(client, model);
    assertEquals(logged.subList(0, 2), seen, "nothing handed out after the handler threw");
    assertEquals(logged.get(0), cursor(name), "the anomaly it threw on is not acknowledged");

    List<Long> again = new CopyOnWriteArrayList<>();
    try (DurableConsumer next = client.consume(name, recording(again), options)) {
      eventually(() -> again.size() == 2 && cursor(name) == logged.get(2), () -> "again: " + again);
    }
    assertEquals(logged.subList(1, 3), again, "delivered again from the one that failed");
  }

  @Test
  void inAGroupWhatAFailedMemberHeldGoesToAnotherAfterTheAckDeadline() throws Exception {
    String name = "java-crew-retry";
    String model = "java-group-retry";
    var member = ConsumeOptions.defaults().shared(true);
    IllegalStateException boom = new IllegalStateException("boom");
    DurableConsumer failing =
        client.consume(
            name,
            a -> {
              throw boom;
            },
            member);
    awaitSubscribed(name);
    stack.postNanFrames(model, 1, 0);
    var e = assertThrows(ExecutionException.class, () -> failing.done().get(30, TimeUnit.SECONDS));
    assertSame(boom, e.getCause());
    long held = LiveStack.logged(client, model).get(0);

    List<Long> got = new CopyOnWriteArrayList<>();
    try (DurableConsumer other = client.consume(name, a -> record(a, model, got), member)) {
      eventually(() -> got.size() == 1 && cursor(name) == held, () -> "got " + got);
    }
    assertEquals(List.of(held), got, "redelivered once the 2 s ack deadline passed");
  }

  @Test
  void whatIsNotWorthReopeningForEndsTheConsumerWithItsTypedException() {
    AnomalyHandler never = a -> fail("handled " + a);
    var badName = client.consume("not a name", never).done();
    var cause = assertThrows(ExecutionException.class, () -> badName.get(30, TimeUnit.SECONDS)).getCause();
    assertInstanceOf(InvalidArgumentException.class, cause);
    var filteredGroup =
        client.consume("java-filtered", never, ConsumeOptions.defaults().shared(true).modelIds("m")).done();
    cause = assertThrows(ExecutionException.class, () -> filteredGroup.get(30, TimeUnit.SECONDS)).getCause();
    assertInstanceOf(InvalidArgumentException.class, cause, "a group takes no filter");

    // No bridge at all: UNAVAILABLE is worth reopening for, until maxAttempts in a row.
    Backoff quick = new Backoff(Duration.ofMillis(10), Duration.ofMillis(20), 2, 0, 3);
    try (NeuralHeatmapClient nowhere =
        NeuralHeatmapClient.builder("127.0.0.1:" + LiveProcess.freePort()).build()) {
      var gaveUp = nowhere.consume("java-nowhere", never, ConsumeOptions.defaults().backoff(quick)).done();
      cause = assertThrows(ExecutionException.class, () -> gaveUp.get(30, TimeUnit.SECONDS)).getCause();
      assertInstanceOf(UnavailableException.class, cause);
    }
  }

  @Test
  void aConsumerSurvivesABridgeKill() throws Exception {
    String name = "java-survivor";
    String model = "java-survivor";
    List<Long> got = new CopyOnWriteArrayList<>();
    try (DurableConsumer c =
        client.consume(name, recording(got), ConsumeOptions.defaults().modelIds(model))) {
      awaitSubscribed(name);
      stack.postNanFrames(model, 2, 0);
      eventually(() -> got.size() == 2 && cursor(name) == got.get(1), () -> "got " + got);
      stack.killBridge();
      stack.postNanFrames(model, 2, 1); // logged while the bridge is down
      stack.startBridge();
      stack.postNanFrames(model, 2, 2);
      List<Long> logged = LiveStack.logged(client, model);
      eventually(
          () -> got.size() >= logged.size() && cursor(name) == logged.get(logged.size() - 1),
          () -> "got " + got + " of " + logged);
      assertFalse(c.done().isDone(), "the kill did not end the consumer");
      assertEquals(logged, got, "every anomaly once, in order, across the kill");
    }
  }
}
