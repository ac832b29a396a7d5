package dev.neuralheatmap;

import dev.neuralheatmap.v1.Anomaly;
import dev.neuralheatmap.v1.SubscribeAnomaliesResponse;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.LongFunction;

/**
 * Every anomaly after a sequence, exactly once and in order, across broken streams: a blocking
 * iterator that reopens {@code SubscribeAnomalies} with {@code after_sequence} = the last
 * sequence it has received whenever the stream ends, fails with one of the policy's
 * stream-reconnect codes ({@link Policy#STREAM_RECONNECT_CODES}: UNAVAILABLE, ABORTED, ...), or
 * stays silent past the idle bound after a heartbeat; it waits the shared backoff between
 * attempts. Heartbeats are never returned, and a sequence at or below the last one received is
 * dropped, so a replay that overlaps is harmless. Other failures (NOT_FOUND, UNAUTHENTICATED,
 * OUT_OF_RANGE for a pruned sequence, ...) are thrown from {@link #hasNext()} as typed
 * exceptions. {@link #close()} ends it from any thread.
 *
 * <p>{@link #lastSequence()} is the sequence of the last anomaly {@link #next()} returned:
 * persist it to resume in another process with {@link SubscribeOptions#afterSequence(long)}.
 */
public final class AnomalyStream implements Iterator<Anomaly>, AutoCloseable {
  private static final String IDLE = "no anomaly and no heartbeat within the idle bound";

  private final LongFunction<ServerStream<SubscribeAnomaliesResponse>> open;
  private final SubscribeOptions options;
  private final ScheduledExecutorService scheduler;
  private final ArrayDeque<Anomaly> pending = new ArrayDeque<>();
  private final CountDownLatch closedLatch = new CountDownLatch(1);
  private volatile boolean closed;
  private volatile boolean idled;
  private volatile ServerStream<SubscribeAnomaliesResponse> current;
  private ScheduledFuture<?> watchdog;
  private long received;
  private long delivered;
  private boolean armed;
  private int failures;

  AnomalyStream(
      LongFunction<ServerStream<SubscribeAnomaliesResponse>> open,
      long after,
      SubscribeOptions options,
      ScheduledExecutorService scheduler) {
    this.open = open;
    this.options = options;
    this.scheduler = scheduler;
    this.received = after;
    this.delivered = after;
  }

  /** The sequence of the last anomaly returned by {@link #next()} (the start before any). */
  public long lastSequence() {
    return delivered;
  }

  @Override
  public boolean hasNext() {
    while (pending.isEmpty()) {
      if (closed) {
        return false;
      }
      NeuralHeatmapException broke = readOnce();
      if (pending.isEmpty() && !closed && broke != null) {
        reconnect(broke);
      }
    }
    return true;
  }

  @Override
  public Anomaly next() {
    if (!hasNext()) {
      throw new NoSuchElementException("the anomaly stream was closed");
    }
    Anomaly a = pending.removeFirst();
    delivered = a.getSequence();
    return a;
  }

  /**
   * Reads one response into {@code pending}; returns why the stream broke (resumable), or null.
   * Throws what is not resumable.
   */
  private NeuralHeatmapException readOnce() {
    ServerStream<SubscribeAnomaliesResponse> stream = current;
    if (stream == null) {
      idled = false;
      stream = open.apply(received);
      current = stream;
      if (closed) {
        stream.close();
        return null;
      }
    }
    armWatchdog(stream);
    try {
      if (!stream.hasNext()) {
        current = null;
        return closed
            ? null
            : NeuralHeatmapException.forCode(
                Status.Code.UNAVAILABLE, "the anomaly stream ended", List.of(), null);
      }
      SubscribeAnomaliesResponse resp = stream.next();
      if (resp.hasHeartbeat() && !resp.hasUpdate()) {
        armed = true;
        failures = 0;
        return null;
      }
      for (Anomaly a : resp.getUpdate().getAnomaliesList()) {
        if (a.getSequence() > received) {
          pending.addLast(a);
          received = a.getSequence();
          failures = 0;
        }
      }
      return null;
    } catch (NeuralHeatmapException e) {
      current = null;
      stream.close();
      if (closed) {
        return null;
      }
      if (idled) {
        return NeuralHeatmapException.forCode(
            Status.Code.UNAVAILABLE, IDLE + " (" + options.idleTimeout() + "): reopening", List.of(), e);
      }
      if (!Policy.STREAM_RECONNECT_CODES.contains(e.code())) {
        throw e;
      }
      return e;
    } finally {
      disarmWatchdog();
    }
  }

  private void armWatchdog(ServerStream<SubscribeAnomaliesResponse> stream) {
    Duration idle = options.idleTimeout();
    if (!armed || idle == null || idle.isZero() || idle.isNegative()) {
      return;
    }
    watchdog =
        scheduler.schedule(
            () -> {
              idled = true;
              stream.abort(IDLE);
            },
            idle.toNanos(),
            TimeUnit.NANOSECONDS);
  }

  private void disarmWatchdog() {
    if (watchdog != null) {
      watchdog.cancel(false);
      watchdog = null;
    }
  }

  private void reconnect(NeuralHeatmapException cause) {
    if (!options.backoff().allows(failures)) {
      throw cause;
    }
    Duration delay = options.backoff().delay(failures);
    failures++;
    if (options.onReconnect() != null) {
      options.onReconnect().reconnecting(cause, delay, received);
    }
    try {
      closedLatch.await(delay.toNanos(), TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      close();
    }
  }

  /** Ends the stream: a reader blocked in {@link #hasNext()} returns false. */
  @Override
  public void close() {
    closed = true;
    closedLatch.countDown();
    ServerStream<SubscribeAnomaliesResponse> stream = current;
    if (stream != null) {
      stream.close();
    }
  }
}
