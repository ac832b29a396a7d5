import { test } from "node:test";
import assert from "node:assert/strict";
import { Backoff, sleep } from "../backoff.js";

test("delays grow exponentially up to the cap", () => {
  const b = new Backoff({ initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0 });
  assert.deepEqual([0, 1, 2, 3, 4, 10].map((a) => b.delayMs(a)), [100, 200, 400, 800, 1000, 1000]);
});

test("jitter only shortens the delay, by at most its fraction", () => {
  const lo = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.5, random: () => 0.999999 });
  const hi = new Backoff({ initialMs: 1000, maxMs: 1000, jitter: 0.5, random: () => 0 });
  assert.equal(hi.delayMs(0), 1000);
  assert.equal(lo.delayMs(0), 500);
});

test("bad settings are rejected", () => {
  assert.throws(() => new Backoff({ initialMs: 10, maxMs: 5 }), RangeError);
  assert.throws(() => new Backoff({ multiplier: 0.5 }), RangeError);
});

test("sleep rejects when aborted", async () => {
  const ctl = new AbortController();
  const p = sleep(10_000, ctl.signal);
  ctl.abort(new Error("stop"));
  await assert.rejects(p, /stop/);
});
