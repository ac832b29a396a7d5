/**
 * Helpers of the abort tests: every way a caller can abort, a bound on how long stopping may
 * take, and garbage collection while waiting. Node 20 can lose an `AbortSignal.timeout()`
 * held only weakly (nodejs/node#57736) once the collector runs, which in a short test it
 * rarely does; collecting every few milliseconds makes that loss certain instead of rare.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
/** Node's global gc(), without starting the process with --expose-gc. */
export const gc = runInNewContext("gc") as () => void;

/** A way to abort: `make(ms)` gives a signal that aborts about `ms` from now. */
export interface AbortStyle {
  readonly name: string;
  make(ms: number): AbortSignal;
}

/** Every way to abort a client call or stream that the docs promise to honour. */
export const ABORT_STYLES: readonly AbortStyle[] = [
  {
    name: "controller.abort()",
    make: (ms) => {
      const ctl = new AbortController();
      setTimeout(() => ctl.abort(), ms);
      return ctl.signal;
    },
  },
  {
    name: "controller.abort(new Error(...))",
    make: (ms) => {
      const ctl = new AbortController();
      setTimeout(() => ctl.abort(new Error("shutting down")), ms);
      return ctl.signal;
    },
  },
  {
    name: 'controller.abort("a string")',
    make: (ms) => {
      const ctl = new AbortController();
      setTimeout(() => ctl.abort("shutting down"), ms);
      return ctl.signal;
    },
  },
  { name: "AbortSignal.timeout(ms)", make: (ms) => AbortSignal.timeout(ms) },
  {
    name: "AbortSignal.any([controller, controller])",
    make: (ms) => {
      const quiet = new AbortController();
      const ctl = new AbortController();
      setTimeout(() => ctl.abort(), ms);
      return AbortSignal.any([quiet.signal, ctl.signal]);
    },
  },
  { name: "AbortSignal.abort() (already aborted)", make: () => AbortSignal.abort() },
];

/** Settles as `p` does, collecting garbage every 20 ms until then. */
export async function collecting<T>(p: Promise<T>): Promise<T> {
  const timer = setInterval(gc, 20);
  try {
    return await p;
  } finally {
    clearInterval(timer);
  }
}

/** Settles as `p` does, or rejects if it has not within `ms` (the promise is left running). */
export async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([collecting(p), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Drains an iterable; resolves to how many items it yielded. */
export async function drain(it: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of it) n++;
  return n;
}
