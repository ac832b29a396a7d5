package dev.neuralheatmap.conformance;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.Any;
import com.google.protobuf.Descriptors;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import dev.neuralheatmap.v1.NeuralHeatmapServiceOuterClass;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The Java thin client of the conformance suite: it makes the RPCs that the scenario
 * interpreter (tests/conformance/runner.py) sends it, by method name, with {@link
 * DynamicMessage} and {@link JsonFormat} over the descriptors protoc generated from protos/, and
 * answers each with the responses and the status. One JSON request per line on stdin, one JSON
 * answer per line on stdout; the protocol is in tests/conformance/README.md ("Thin clients").
 * It calls through {@link ClientCall} rather than the generated stubs on purpose: scenarios name
 * methods as strings (unknown ones included) and send requests as JSON, which typed stubs
 * cannot take. It lives in the test sources: the published jar carries no conformance code and
 * needs neither gson nor protobuf-java-util.
 *
 * <pre>
 * java -cp target/test-classes:target/classes:$(cat target/test-classpath.txt) \
 *     dev.neuralheatmap.conformance.ThinClient
 * </pre>
 */
public final class ThinClient {
  private static final int MAX_MESSAGE_BYTES = dev.neuralheatmap.Policy.MAX_MESSAGE_BYTES;
  private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();
  private static final Descriptors.FileDescriptor FILE = NeuralHeatmapServiceOuterClass.getDescriptor();

  private final Map<String, ManagedChannel> channels = new HashMap<>();
  private final Map<String, Call> streams = new HashMap<>(); // open server streams by request id

  private ThinClient() {}

  /** What a call's listener saw: a response message or the end with its status. */
  private record Event(DynamicMessage message, Status status, Metadata trailers) {}

  /** One call in flight, its events queued by the listener in arrival order. */
  private static final class Call {
    final ClientCall<DynamicMessage, DynamicMessage> call;
    final LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();

    Call(ClientCall<DynamicMessage, DynamicMessage> call) {
      this.call = call;
    }
  }

  /** A marshaller of dynamic messages of one type. */
  private record Dynamic(Descriptors.Descriptor type) implements MethodDescriptor.Marshaller<DynamicMessage> {
    @Override
    public InputStream stream(DynamicMessage value) {
      return new ByteArrayInputStream(value.toByteArray());
    }

    @Override
    public DynamicMessage parse(InputStream stream) {
      try {
        return DynamicMessage.parseFrom(type, stream);
      } catch (IOException e) {
        throw Status.INTERNAL.withDescription("undecodable response: " + e).withCause(e).asRuntimeException();
      }
    }
  }

  private static JsonObject failed(String text) {
    JsonObject a = new JsonObject();
    a.addProperty("error", text);
    return a;
  }

  private ManagedChannel channel(String target) {
    return channels.computeIfAbsent(
        target,
        t ->
            Grpc.newChannelBuilder(t, InsecureChannelCredentials.create())
                .maxInboundMessageSize(MAX_MESSAGE_BYTES)
                .maxInboundMetadataSize(1 << 20)
                .build());
  }

  /** The status of a finished call as the protocol renders it (details undecoded). */
  private static JsonObject ended(Status status, Metadata trailers, JsonArray responses) {
    JsonObject a = new JsonObject();
    if (responses.size() > 0) {
      a.add("responses", responses);
    }
    a.addProperty("code", status.getCode().name());
    if (status.getCode() != Status.Code.OK) {
      a.addProperty("message", status.getDescription() == null ? "" : status.getDescription());
      com.google.rpc.Status proto = StatusProto.fromStatusAndTrailers(status, trailers);
      JsonArray details = new JsonArray();
      for (Any d : proto.getDetailsList()) {
        JsonObject detail = new JsonObject();
        String url = d.getTypeUrl();
        detail.addProperty("type", url.substring(url.lastIndexOf('/') + 1));
        detail.addProperty("value", Base64.getEncoder().encodeToString(d.getValue().toByteArray()));
        details.add(detail);
      }
      if (details.size() > 0) {
        a.add("details", details);
      }
    }
    return a;
  }

  /** Reads up to {@code limit} more responses (all when null); the stream stays open at the limit. */
  private JsonObject read(String id, Call c, Integer limit) throws InterruptedException {
    JsonArray responses = new JsonArray();
    while (limit == null || responses.size() < limit) {
      c.call.request(1);
      Event e = c.events.take();
      if (e.message() == null) {
        streams.remove(id);
        return ended(e.status(), e.trailers(), responses);
      }
      try {
        responses.add(JsonParser.parseString(JsonFormat.printer().print(e.message())));
      } catch (InvalidProtocolBufferException ex) {
        return failed("response does not render as JSON: " + ex.getMessage());
      }
    }
    JsonObject a = new JsonObject();
    a.add("responses", responses);
    a.addProperty("open", true);
    return a;
  }

  /** The grpc-java method type of an RPC in a service descriptor. */
  private static MethodDescriptor.MethodType kind(Descriptors.MethodDescriptor rpc) {
    if (rpc.isClientStreaming()) {
      return rpc.isServerStreaming()
          ? MethodDescriptor.MethodType.BIDI_STREAMING
          : MethodDescriptor.MethodType.CLIENT_STREAMING;
    }
    return rpc.isServerStreaming()
        ? MethodDescriptor.MethodType.SERVER_STREAMING
        : MethodDescriptor.MethodType.UNARY;
  }

  /** Starts any kind of call: sends every request, half-closes, then reads. */
  private JsonObject start(String id, JsonObject req) throws InterruptedException {
    String method = req.get("method").getAsString();
    int slash = method.indexOf('/');
    String service = slash < 0 ? method : method.substring(0, slash);
    String name = slash < 0 ? "" : method.substring(slash + 1);
    Descriptors.ServiceDescriptor sd =
        service.startsWith(FILE.getPackage() + ".")
            ? FILE.findServiceByName(service.substring(FILE.getPackage().length() + 1))
            : null;
    if (sd == null) {
      return failed("no service \"" + service + "\"");
    }
    Descriptors.MethodDescriptor md = sd.findMethodByName(name);
    if (md == null) {
      return failed("no method \"" + name + "\" in " + service);
    }
    List<DynamicMessage> messages = new ArrayList<>();
    for (JsonElement r : req.getAsJsonArray("requests")) {
      DynamicMessage.Builder b = DynamicMessage.newBuilder(md.getInputType());
      try {
        JsonFormat.parser().merge(GSON.toJson(r), b);
      } catch (InvalidProtocolBufferException | RuntimeException e) {
        return failed("request does not parse as " + md.getInputType().getFullName() + ": " + e.getMessage());
      }
      messages.add(b.build());
    }
    MethodDescriptor<DynamicMessage, DynamicMessage> descriptor =
        MethodDescriptor.<DynamicMessage, DynamicMessage>newBuilder()
            .setType(kind(md))
            .setFullMethodName(method)
            .setRequestMarshaller(new Dynamic(md.getInputType()))
            .setResponseMarshaller(new Dynamic(md.getOutputType()))
            .build();
    Metadata headers = new Metadata();
    if (req.has("metadata")) {
      for (Map.Entry<String, JsonElement> e : req.getAsJsonObject("metadata").entrySet()) {
        headers.put(Metadata.Key.of(e.getKey(), Metadata.ASCII_STRING_MARSHALLER), e.getValue().getAsString());
      }
    }
    CallOptions options =
        CallOptions.DEFAULT
            .withMaxOutboundMessageSize(MAX_MESSAGE_BYTES)
            .withDeadlineAfter(req.get("timeout_ms").getAsLong(), TimeUnit.MILLISECONDS);
    Call c = new Call(channel(req.get("target").getAsString()).newCall(descriptor, options));
    c.call.start(
        new ClientCall.Listener<>() {
          @Override
          public void onMessage(DynamicMessage message) {
            c.events.add(new Event(message, null, null));
          }

          @Override
          public void onClose(Status status, Metadata trailers) {
            c.events.add(new Event(null, status, trailers));
          }
        },
        headers);
    for (DynamicMessage m : messages) {
      c.call.sendMessage(m); // after the server ended the call these are dropped; read sees its status
    }
    c.call.halfClose();
    if (!md.isServerStreaming()) {
      return read(id, c, null);
    }
    streams.put(id, c);
    JsonElement max = req.get("max_responses");
    return read(id, c, max == null || max.isJsonNull() ? null : max.getAsInt());
  }

  private JsonObject handle(String id, JsonObject req) throws InterruptedException {
    String op = req.has("op") ? req.get("op").getAsString() : "call";
    if (op.equals("call")) {
      return start(id, req);
    }
    Call c = streams.get(id);
    if (c == null) {
      return failed("no open stream " + id);
    }
    switch (op) {
      case "next":
        JsonElement max = req.get("max_responses");
        return read(id, c, max == null || max.isJsonNull() ? null : max.getAsInt());
      case "cancel":
        c.call.cancel("cancelled", null);
        streams.remove(id);
        JsonObject a = new JsonObject();
        a.addProperty("code", "CANCELLED");
        a.addProperty("message", "cancelled");
        return a;
      default:
        return failed("unknown op \"" + op + "\"");
    }
  }

  /** Answers every request line of stdin, in order, until stdin ends. */
  public static void main(String[] args) throws InterruptedException {
    ThinClient client = new ThinClient();
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
      String line;
      while ((line = in.readLine()) != null) {
        if (line.isBlank()) {
          continue;
        }
        JsonElement id = null;
        JsonObject answer;
        try {
          JsonObject req = JsonParser.parseString(line).getAsJsonObject();
          id = req.get("id");
          answer = client.handle(GSON.toJson(id), req);
        } catch (RuntimeException e) {
          answer = failed("bad request line: " + e.getMessage());
        }
        JsonObject ordered = new JsonObject();
        ordered.add("id", id);
        answer.entrySet().forEach(e -> ordered.add(e.getKey(), e.getValue()));
        out.println(GSON.toJson(ordered));
        out.flush();
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } finally {
      client.channels.values().forEach(ManagedChannel::shutdownNow);
    }
  }
}
