/**
 * A packed sweep's worker processes and how they talk to the parent, which owns the terminal.
 *
 * - worker → parent, one JSON object a line on the worker's stdout: the progress calls of the
 *   run it trains ({@link jsonProgress}), `{"ready":true}` when it can take a run, and
 *   `{"result":{"ran":n,"diverged":d}}` before it exits; its stderr is passed on line by line.
 * - parent → worker, on the worker's stdin: `{"run":"<record file>"}` or `{"end":true}`.
 *
 * The parent hands out the runs in plan order as workers become free, so the workers stay
 * busy to the end whatever each run costs. A worker writes each record itself, atomically, the
 * moment its run finishes. Stopping ({@link Pool.stop}, the parent's Ctrl-C) hands out nothing
 * more and sends the workers SIGTERM: each drops its run in flight and exits. A worker whose
 * stdin closes without `end` (the parent was killed) stops the same way.
 *
 * @module
 */
import { jsonProgress, type Progress, replayProgress, type SweepProgress } from "../progress.ts";

/** What the workers of a pool did together. */
export interface PoolResult {
  /** Runs trained and recorded. */
  ran: number;
  /** Of those, how many diverged. */
  diverged: number;
  /** Workers that failed (not stopped): their index and exit code. */
  failed: { worker: number; code: number }[];
}

/** A running pool. */
export interface Pool {
  /** Hands out no more runs; the workers drop their runs in flight and exit. */
  stop(): void;
  /** Ends every worker at once (SIGKILL). */
  kill(): void;
  /** Settles when every worker has exited. */
  done: Promise<PoolResult>;
}

const enc = new TextEncoder();

/** The lines of a byte stream, without their line ends. */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  const dec = new TextDecoder();
  for await (const bytes of stream) {
    rest += dec.decode(bytes, { stream: true });
    let i;
    while ((i = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, i);
      rest = rest.slice(i + 1);
    }
  }
  if (rest) yield rest;
}

/**
 * Starts `workers` processes (`spawn(j)`, with stdin, stdout and stderr piped) and hands them
 * `runs` (record file names) one at a time; worker `j` reports into `progress.slot(j)`.
 */
export function startPool(o: {
  workers: number;
  spawn: (j: number) => Deno.ChildProcess;
  runs: readonly string[];
  progress: SweepProgress;
  /**
   * Called once every worker has asked for its first run (it has loaded what it needs) and been
   * answered: when the parent can do its own work without keeping a worker waiting.
   */
  onStarted?: () => void;
}): Pool {
  const queue = [...o.runs];
  let waiting = o.workers;
  let stopping = false;
  const result: PoolResult = { ran: 0, diverged: 0, failed: [] };
  const children: Deno.ChildProcess[] = [];
  const signal = (sig: Deno.Signal) => {
    for (const c of children) {
      try {
        c.kill(sig);
      } catch { /* already exited */ }
    }
  };

  const serve = async (j: number): Promise<void> => {
    const child = o.spawn(j);
    children.push(child);
    const stdin = child.stdin.getWriter();
    const send = async (msg: unknown) => {
      try {
        await stdin.write(enc.encode(JSON.stringify(msg) + "\n"));
      } catch { /* the worker has exited */ }
    };
    const slot = o.progress.slot(j);
    let first = true;
    const errors = (async () => {
      for await (const l of lines(child.stderr)) o.progress.error(l);
    })();
    for await (const l of lines(child.stdout)) {
      if (replayProgress(l, slot)) continue;
      let msg: { ready?: boolean; result?: { ran: number; diverged: number } } | null = null;
      try {
        msg = JSON.parse(l);
      } catch { /* not ours: shown as it is */ }
      if (msg?.ready) {
        const next = stopping ? undefined : queue.shift();
        await send(next === undefined ? { end: true } : { run: next });
        if (first && (first = false, --waiting === 0)) o.onStarted?.();
      } else if (msg?.result) {
        result.ran += msg.result.ran;
        result.diverged += msg.result.diverged;
      } else o.progress.message(l);
    }
    await errors;
    const status = await child.status;
    await stdin.close().catch(() => {});
    if (!status.success && !stopping) {
      result.failed.push({ worker: j, code: status.code });
      // a worker that fails is likely to fail again on the next run: stop handing out runs
      stopping = true;
    }
  };

  const done = Promise.all(Array.from({ length: o.workers }, (_, j) => serve(j))).then(() =>
    result
  );
  return {
    stop() {
      stopping = true;
      signal("SIGTERM");
    },
    kill() {
      stopping = true;
      signal("SIGKILL");
    },
    done,
  };
}

/** The worker's side of the pool: where its runs come from and where its progress goes. */
export interface WorkerChannel {
  /** The next run's record file, or null when there is none (or the parent is gone). */
  take(): Promise<string | null>;
  /** Progress events to the parent. */
  progress: Progress;
  /** True once the parent has closed the channel without `end` (it was killed). */
  parentGone(): boolean;
  /** Reports what this worker did (the last line it writes). */
  finish(ran: number, diverged: number): void;
}

/** Opens the worker's side on this process's stdin and stdout. */
export function workerChannel(): WorkerChannel {
  const write = (s: string) => {
    try {
      Deno.stdout.writeSync(enc.encode(s));
    } catch { /* the parent is gone */ }
  };
  const pending: ((line: string | null) => void)[] = [];
  const arrived: (string | null)[] = [];
  let gone = false;
  let ended = false;
  (async () => {
    for await (const l of lines(Deno.stdin.readable)) {
      try {
        if (JSON.parse(l)?.end === true) ended = true;
      } catch { /* handled by take */ }
      const waiter = pending.shift();
      if (waiter) waiter(l);
      else arrived.push(l);
    }
    if (!ended) gone = true;
    for (const w of pending.splice(0)) w(null);
    arrived.push(null);
  })();
  const nextLine = () =>
    arrived.length > 0
      ? Promise.resolve(arrived.shift()!)
      : new Promise<string | null>((r) => pending.push(r));
  return {
    async take() {
      if (gone) return null;
      write('{"ready":true}\n');
      const l = await nextLine();
      if (l === null) return null;
      const msg = JSON.parse(l) as { run?: string; end?: boolean };
      return msg.run ?? null;
    },
    progress: jsonProgress(write),
    parentGone: () => gone,
    finish(ran, diverged) {
      write(JSON.stringify({ result: { ran, diverged } }) + "\n");
    },
  };
}
