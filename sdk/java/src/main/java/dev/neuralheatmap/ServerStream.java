package dev.neuralheatmap;

import io.grpc.ClientCall;
import io.grpc.stub.ClientCalls;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Spliterator;
import java.util.Spliterators;
import java.util.function.Function;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;

/**
 * A server stream read with a blocking iterator: {@link #hasNext()} waits for the next item,
 * returns false when the stream ends cleanly, and throws the typed {@link
 * NeuralHeatmapException} when it fails. {@link #close()} cancels the call (from any thread; a
 * reader blocked in {@code hasNext} then sees the end). Use it in try-with-resources.
 *
 * @param <T> the item type
 */
public final class ServerStream<T> implements Iterator<T>, AutoCloseable {
  private final ClientCall<?, ?> call;
  private final Iterator<?> responses;
  private final Function<Object, T> item;
  private volatile boolean closed;
  private T next;

  /**
   * Starts a call and reads it.
   *
   * @param call a call not yet started
   * @param request the request
   * @param item the item of each response, or null to skip that response (a heartbeat)
   */
  @SuppressWarnings("unchecked")
  <Req, Resp> ServerStream(ClientCall<Req, Resp> call, Req request, Function<Resp, T> item) {
    this.call = call;
    this.responses = ClientCalls.blockingServerStreamingCall(call, request);
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
    call.cancel("closed by the client", null);
  }

  /**
   * Cancels the call without closing: the reader gets a CANCELLED error carrying this reason
   * (the idle watchdog of {@link AnomalyStream} uses it to end a stuck stream).
   */
  void abort(String reason) {
    call.cancel(reason, null);
  }
}
