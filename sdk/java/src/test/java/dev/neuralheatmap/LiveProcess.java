package dev.neuralheatmap;

import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * The real server or bridge as a process, as tests/support starts them for the Python tests:
 * {@code .venv/bin/python -m <module>} from the repository with the source folders on
 * PYTHONPATH, output to a log file, ready once its probe answers. Nothing is mocked.
 */
final class LiveProcess implements AutoCloseable {
  /** The repository root (surefire passes it; the default works from sdk/java). */
  static final Path REPO =
      Path.of(System.getProperty("nh.repo", "../..")).toAbsolutePath().normalize();

  private static final String PYTHONPATH =
      String.join(
          File.pathSeparator,
          REPO.resolve("contract/python").toString(),
          REPO.resolve("server").toString(),
          REPO.resolve("bridge").toString(),
          REPO.resolve("sdk/python").toString(),
          REPO.toString()); // tests.support.crafted_upstream

  private final String name;
  private final List<String> command;
  private final Path log;
  private final BooleanSupplier ready;
  private Process process;

  LiveProcess(String name, List<String> args, Path dir, BooleanSupplier ready) {
    this.name = name;
    this.command = new ArrayList<>();
    this.command.add(python());
    this.command.add("-m");
    this.command.addAll(args);
    this.log = dir.resolve(name + ".log");
    this.ready = ready;
  }

  /** The repository's virtualenv python; `make setup` creates it. */
  private static String python() {
    Path py = REPO.resolve(".venv/bin/python");
    if (!Files.isExecutable(py)) {
      throw new IllegalStateException(py + " is missing: run `make setup` first");
    }
    return py.toString();
  }

  /** A TCP port that was free on 127.0.0.1 a moment ago. */
  static int freePort() {
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Starts the process and waits (up to 30 s) until its probe answers. */
  LiveProcess start() {
    ProcessBuilder pb = new ProcessBuilder(command).directory(REPO.toFile());
    pb.environment().put("PYTHONPATH", PYTHONPATH);
    pb.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    try {
      process = pb.start();
    } catch (IOException e) {
      throw new IllegalStateException("cannot start " + name, e);
    }
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException(name + " exited with " + process.exitValue() + ":\n" + log());
      }
      if (ready.getAsBoolean()) {
        return this;
      }
      sleep(50);
    }
    kill();
    throw new IllegalStateException(name + " did not become ready:\n" + log());
  }

  /** SIGKILL, no clean shutdown (a crash). */
  void kill() {
    if (process != null) {
      process.destroyForcibly();
      waitFor();
    }
  }

  /** The combined output so far. */
  String log() {
    try {
      return Files.exists(log) ? Files.readString(log) : "";
    } catch (IOException e) {
      return e.toString();
    }
  }

  @Override
  public void close() {
    if (process != null && process.isAlive()) {
      process.destroy(); // SIGTERM: a clean shutdown
      try {
        if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
          process.destroyForcibly();
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
    waitFor();
  }

  private void waitFor() {
    try {
      process.waitFor();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
