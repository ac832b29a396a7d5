package dev.neuralheatmap;

import io.grpc.Context;
import io.grpc.Status;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * A server stream read with a blocking iterator: {@link #hasNext()} waits for the next item,
 * returns false when the stream ends cleanly, and throws the typed {@link
 * NeuralHeatmapException} when it fails. {@link #close()} cancels the call (from any thread; a
 * reader blocked in {@code hasNext} then sees the end). Use it in try-with-resources.
 *
 * <p>The call is a generated blocking stub's, started inside a cancellable {@link Context}: the
 * stub's iterator has no cancel of its own, and cancelling the context the call was started in
 * is how grpc-java cancels a blocking call.
 *
 * @param <T> the item type
 */
public final class ServerStream<T> implements Iterator<T>, AutoCloseable {
  private final Context.CancellableContext context;
  private final Iterator<?> responses;
  private final Function<Object, T> item;
  private volatile boolean closed;
  private T next;

  /**
   * Starts a call and reads it.
   *
   * @param start starts the call on a blocking stub (in this stream's context)
   * @param item the item of each response, or null to skip that response (a heartbeat)
   */
  @SuppressWarnings("unchecked")
  <Resp> ServerStream(Supplier<Iterator<Resp>> start, Function<Resp, T> item) {
    this.context = Context.current().withCancellation();
    Context previous = context.attach();
    try {
      this.responses = start.get();
    } finally {
      context.detach(previous);
    }
    this.item = (Function<Object, T>) (Function<?, T>) item;
  }

  @Override
  public boolean hasNext() {
    while (next == null) {
      if (closed) {
        return false;
      }
      Object response;
      try {
        if (!responses.hasNext()) {
          return false;
        }
        response = responses.next();
      } catch (RuntimeException e) {
        if (closed) {
          return false;
        }
        throw NeuralHeatmapException.from(e);
      }
      next = item.apply(response);
    }
    return true;
  }

  @Override
  public T next() {
    if (!hasNext()) {
      throw new NoSuchElementException("the stream has ended");
    }
    T out = next;
    next = null;
    return out;
  }

  /** The rest of the stream as a {@link Stream} (closing it closes this). */
  public Stream<T> stream() {
    return StreamSupport.stream(
            Spliterators.spliteratorUnknownSize(this, Spliterator.ORDERED | Spliterator.NONNULL), false)
        .onClose(this::close);
  }

  /** Cancels the call; the reader sees the end of the stream. */
  @Override
  public void close() {
    closed = true;
    cancel("closed by the client");
  }

  /**
   * Cancels the call without closing: the reader gets a CANCELLED error carrying this reason
   * (the idle watchdog of {@link AnomalyStream} uses it to end a stuck stream).
   */
  void abort(String reason) {
    cancel(reason);
  }

  private void cancel(String reason) {
    context.cancel(Status.CANCELLED.withDescription(reason).asRuntimeException());
  }
}
