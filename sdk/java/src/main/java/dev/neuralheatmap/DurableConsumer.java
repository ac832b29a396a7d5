package dev.neuralheatmap;

import dev.neuralheatmap.v1.Anomaly;
import dev.neuralheatmap.v1.SubscribeAnomaliesResponse;
import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * A running durable named consumer (docs/reliability.md, "Durable consumers"), made by {@link
 * NeuralHeatmapClient#consume}. On a thread of the client's it subscribes to {@code
 * SubscribeAnomalies} under its name ({@code shared} for a group member), hands each anomaly to
 * the {@link AnomalyHandler} in the order received and acknowledges it ({@code AckAnomalies})
 * once the handler returns normally. The service keeps the cursor, so this keeps none: when the
 * stream ends or fails with one of the policy's stream-reconnect codes ({@link
 * Policy#STREAM_RECONNECT_CODES}), or an acknowledgement fails with one, it waits the {@link
 * Backoff} and subscribes again under the name, and the service resumes after the last
 * acknowledgement. Heartbeats are never handed to the handler.
 *
 * <p>It ends in one of three ways, which {@link #done()} reports:
 *
 * <ul>
 *   <li>{@link #close()}, cancelling {@link #done()}, or closing the client: {@code done()}
 *       completes normally. An anomaly whose handler is running then is not acknowledged, so it
 *       is delivered again (as when a Go context or a TypeScript signal ends {@code Consume}).
 *   <li>The handler throws: that exception, as it is, is {@code done()}'s failure; its anomaly
 *       is not acknowledged, so the service delivers it again: to the next consumer under the
 *       name, or, in a group, to another member once the group's ack deadline passes. The
 *       handler sees an anomaly at least once; it is acknowledged exactly once.
 *   <li>A status not worth reopening for (INVALID_ARGUMENT for a bad name, OUT_OF_RANGE for a
 *       pruned cursor, ...), or the last one after {@code backoff.maxAttempts()} reopenings in a
 *       row without a message: {@code done()} fails with the typed {@link
 *       NeuralHeatmapException}.
 * </ul>
 *
 * <pre>{@code
 * try (DurableConsumer billing = client.consume("billing", a -> bill(a), ConsumeOptions.defaults())) {
 *   billing.done().join(); // until closed from elsewhere, or failed
 * }
 * }</pre>
 */
public final class DurableConsumer implements AutoCloseable {
  private final String name;
  private final AnomalyHandler handler;
  private final Backoff backoff;
  private final Supplier<ServerStream<SubscribeAnomaliesResponse>> subscribe;
  private final NeuralHeatmapClient client;
  private final CompletableFuture<Void> done = new CompletableFuture<>();
  private final CountDownLatch stopping = new CountDownLatch(1);
  private final CountDownLatch finished = new CountDownLatch(1);
  private volatile boolean closed;
  private volatile ServerStream<SubscribeAnomaliesResponse> current;
  private volatile CompletableFuture<Long> pendingAck;
  private volatile Thread runner;
  private boolean progressed;

  DurableConsumer(
      String name,
      AnomalyHandler handler,
      Backoff backoff,
      Supplier<ServerStream<SubscribeAnomaliesResponse>> subscribe,
      NeuralHeatmapClient client) {
    this.name = name;
    this.handler = handler;
    this.backoff = backoff;
    this.subscribe = subscribe;
    this.client = client;
    done.whenComplete((v, e) -> stop()); // cancelling (or completing) done() stops the loop
  }

  /** The name the service keeps this consumer's cursor (or group) under. */
  public String name() {
    return name;
  }

  /**
   * Completes when the consumer has ended: normally after {@link #close()}, exceptionally with
   * the handler's exception or the {@link NeuralHeatmapException} that ended it. Cancelling it
   * stops the consumer as {@link #close()} does, without waiting.
   */
  public CompletableFuture<Void> done() {
    return done;
  }

  /**
   * Stops consuming: cancels the stream and any acknowledgement in flight, then waits until a
   * running handler has returned (its anomaly stays unacknowledged), so no handler runs once
   * this returns. Called from the handler itself it does not wait. Idempotent.
   */
  @Override
  public void close() {
    stop();
    if (Thread.currentThread() == runner) {
      return;
    }
    try {
      finished.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void stop() {
    closed = true;
    stopping.countDown();
    ServerStream<SubscribeAnomaliesResponse> stream = current;
    if (stream != null) {
      stream.close();
    }
    CompletableFuture<Long> ack = pendingAck;
    if (ack != null) {
      ack.cancel(false);
    }
  }

  /** The loop, on a thread of the client's: one stream after another until it ends. */
  void run() {
    runner = Thread.currentThread();
    try {
      int failures = 0;
      while (!closed) {
        progressed = false;
        NeuralHeatmapException broke = consumeOneStream();
        if (closed) {
          break;
        }
        failures = progressed ? 0 : failures;
        if (!backoff.allows(failures)) {
          throw broke;
        }
        Duration delay = backoff.delay(failures++);
        if (stopping.await(delay.toNanos(), TimeUnit.NANOSECONDS)) {
          break;
        }
      }
      done.complete(null);
    } catch (HandlerFailed e) {
      done.completeExceptionally(e.getCause());
    } catch (InterruptedException e) { // the client's threads are being shut down
      Thread.currentThread().interrupt();
      done.complete(null);
    } catch (RuntimeException | Error e) {
      done.completeExceptionally(e);
    } finally {
      finished.countDown();
    }
  }

  /**
   * Reads one subscription to its end, handling and acknowledging every anomaly. Returns why it
   * broke when that is worth reopening for (null once closed); throws what is not.
   */
  private NeuralHeatmapException consumeOneStream() {
    ServerStream<SubscribeAnomaliesResponse> stream = subscribe.get();
    current = stream;
    if (closed) {
      stream.close();
      return null;
    }
    try (stream) {
      while (stream.hasNext()) {
        SubscribeAnomaliesResponse response = stream.next();
        progressed = true;
        for (Anomaly a : response.getUpdate().getAnomaliesList()) { // a heartbeat has none
          handle(a);
          if (closed) {
            return null;
          }
          acknowledge(a.getSequence());
        }
      }
      return NeuralHeatmapException.forCode(
          Status.Code.UNAVAILABLE, "the anomaly stream ended", List.of(), null);
    } catch (NeuralHeatmapException e) {
      if (closed) {
        return null;
      }
      if (!Policy.STREAM_RECONNECT_CODES.contains(e.code())) {
        throw e;
      }
      return e;
    } finally {
      current = null;
    }
  }

  private void handle(Anomaly a) {
    try {
      handler.handle(a);
    } catch (Exception | Error e) {
      throw new HandlerFailed(e);
    }
  }

  private void acknowledge(long sequence) {
    CompletableFuture<Long> ack = client.ackAnomaliesAsync(name, sequence);
    pendingAck = ack;
    if (closed) {
      ack.cancel(false);
    }
    try {
      NeuralHeatmapClient.join(ack);
    } finally {
      pendingAck = null;
    }
  }

  /** The handler's own failure: it ends the consumer as it is, never as a reason to reopen. */
  private static final class HandlerFailed extends RuntimeException {
    private static final long serialVersionUID = 1L;

    HandlerFailed(Throwable cause) {
      super(cause);
    }
  }
}
