import { test } from "node:test";
import assert from "node:assert/strict";
import { cancelledError, linkSignals } from "../abort.js";
import { RequestCancelledError } from "../errors.js";
import { within } from "../testing/abort.js";

const aborted = (s: AbortSignal): Promise<void> =>
  new Promise((resolve) => s.addEventListener("abort", () => resolve(), { once: true }));

test("a linked AbortSignal.timeout that nothing else holds still fires while garbage is collected", async () => {
  const closing = new AbortController();
  const { signal, release } = linkSignals(AbortSignal.timeout(100), closing.signal);
  await within(5_000, "the linked timeout signal", aborted(signal));
  assert.equal((signal.reason as Error).name, "TimeoutError");
  release();
});

test("a source already aborted aborts the link at once, with its reason", () => {
  const { signal } = linkSignals(undefined, AbortSignal.abort("stop"), new AbortController().signal);
  assert.equal(signal.aborted, true);
  assert.equal(signal.reason, "stop");
});

test("after release the link no longer follows its sources", () => {
  const ctl = new AbortController();
  const { signal, release } = linkSignals(ctl.signal);
  release();
  ctl.abort();
  assert.equal(signal.aborted, false);
});

test("cancelledError is RequestCancelledError whatever the reason, the reason kept as the cause's cause", () => {
  for (const signal of [AbortSignal.abort(), AbortSignal.abort("bye"), AbortSignal.abort(new DOMException("late", "TimeoutError"))]) {
    const e = cancelledError(signal);
    assert.ok(e instanceof RequestCancelledError);
    assert.equal(e.codeName, "CANCELLED");
    assert.equal((e.cause as { cause?: unknown }).cause, signal.reason);
  }
  assert.match(cancelledError(AbortSignal.abort(new DOMException("late", "TimeoutError"))).message, /TimeoutError: late/);
});
