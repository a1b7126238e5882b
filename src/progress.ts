/**
 * Progress display. The process that owns the terminal shows the sweep and every run in flight:
 * runs trained in this process report to it directly, runs in worker processes report the same
 * calls as JSON lines ({@link jsonProgress}), which the parent replays into the slot of that
 * worker ({@link replayProgress}).
 *
 * On a terminal the display is live: the sweep's line (bar, runs finished, elapsed, ETA) and
 * one line per run in flight (bar, epoch, step, loss), redrawn in place and fitted to the
 * terminal's width (bars shrink, then the line is cut with `…`), so a redraw never wraps and
 * leaves rows behind; the loss is shown once the run has reported one. Otherwise it writes one
 * plain line per finished epoch and per finished run, for logs and batch schedulers.
 *
 * The sweep's ETA comes from finished work: training steps done per second (all runs together,
 * since the first run started) over the steps still to do (the rest of the runs in flight and
 * every run not yet started), not from elapsed time per finished run.
 *
 * @module
 */

/** What a run in progress is. */
export interface RunLabel {
  /** e.g. `lsh_lsc lr=0.01 run 2`. */
  name: string;
  epochs: number;
  stepsPerEpoch: number;
}

/** The progress sink the experiment engine reports to (one run at a time per sink). */
export interface Progress {
  /**
   * The sweep starts: `total` runs in this process's share, `done` of them already finished.
   * `what` names the phase (`sweep`, or `learning-rate search` for its trials); a phase whose
   * runs are not counted never calls it, and its runs show as `[n]`.
   */
  sweepStart(total: number, done: number, what?: string): void;
  runStart(label: RunLabel): void;
  step(epoch: number, step: number, loss: number, error: number): void;
  epoch(epoch: number, valLoss: number, valError: number, seconds: number): void;
  /** A run ended: `status` like `done in 12.3s`, `diverged at step 40`. */
  runEnd(status: string): void;
  /** A message line (kept above the live bars). */
  message(line: string): void;
  /** Clears the live display. */
  end(): void;
}

/** The display of a whole sweep: a {@link Progress} for slot 0, and one per further slot. */
export interface SweepProgress extends Progress {
  /** The sink of the run in flight in slot `index` (a worker); sweep calls go to the display. */
  slot(index: number): Progress;
  /** A line for stderr (kept above the live bars, like a message). */
  error(line: string): void;
  /** The sweep's ETA in seconds from the work done so far (NaN before any step). */
  eta(): number;
}

/** `m:ss` or `h:mm:ss`; `--:--` when unknown. */
export function fmtTime(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "--:--";
  s = Math.round(s);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0
    ? `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}`
    : `${m}:${String(sec).padStart(2, "0")}`;
}

function bar(frac: number, width: number): string {
  const f = Math.max(0, Math.min(1, frac));
  const n = Math.round(f * width);
  return "█".repeat(n) + "░".repeat(width - n);
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Live display (default: whether stdout is a terminal). */
  tty?: boolean;
  /** Output function (default: stdout, without added newlines). */
  write?: (text: string) => void;
  /** Output function for {@link SweepProgress.error} (default: stderr). */
  writeError?: (text: string) => void;
  /** Clock in milliseconds (tests). */
  now?: () => number;
  /** Terminal width in columns (default: the console's, read at every redraw; else 80). */
  columns?: () => number;
}

function consoleColumns(): number {
  try {
    return Deno.consoleSize().columns || 80;
  } catch {
    return 80;
  }
}

/** `s` cut to at most `width` columns, ending in `…` when cut. */
function clip(s: string, width: number): string {
  const chars = [...s];
  return chars.length <= width ? s : chars.slice(0, Math.max(0, width - 1)).join("") + "…";
}

/**
 * `head`, a bar of at most `max` cells and `tail`, fitted into `width` columns: the bar shrinks
 * (down to nothing) before the line is cut.
 */
function barLine(head: string, frac: number, max: number, tail: string, width: number): string {
  const room = width - [...head].length - [...tail].length - 2;
  const w = Math.min(max, room);
  return clip(w >= 5 ? `${head} ${bar(frac, w)} ${tail}` : `${head} ${tail}`, width);
}

/** A run in flight. */
interface Slot {
  label: RunLabel;
  /** Its place in the sweep, `[n/total]`. */
  n: number;
  /** Steps trained so far. */
  steps: number;
  loss: number;
  haveLoss: boolean;
  epoch: number;
  stepInEpoch: number;
}

/** Creates the progress display for the current output. */
export function createProgress(opts: ProgressOptions = {}): SweepProgress {
  const enc = new TextEncoder();
  const write = opts.write ?? ((t: string) => Deno.stdout.writeSync(enc.encode(t)));
  const writeError = opts.writeError ?? ((t: string) => Deno.stderr.writeSync(enc.encode(t)));
  const tty = opts.tty ?? Deno.stdout.isTerminal();
  const now = opts.now ?? (() => performance.now());
  const columns = opts.columns ?? consoleColumns;
  let total = 0;
  /** The phase the counts are of (`sweep`, `learning-rate search`), and what its runs are. */
  let phase = "sweep";
  let unit = "runs";
  let finished = 0;
  let started = 0;
  let sweepT0 = now();
  /** When the first run of this session started (the ETA's clock), or null. */
  let workT0: number | null = null;
  /** Steps of the runs that ended in this session. */
  let stepsEnded = 0;
  /** Steps of a run of this sweep (the latest label's), for the runs not started yet. */
  let stepsPerRun = 0;
  const slots = new Map<number, Slot>();
  let lastDraw = 0;
  let drawn = 0;

  // One column short of the width: a line that fills the last column wraps on some terminals.
  const width = () => Math.max(10, columns() - 1);
  /** `[n/total]`, or `[n]` while nothing counted the runs (e.g. an open-ended search). */
  const place = (n: number | string) => total > 0 ? `[${n}/${total}]` : `[${n}]`;
  const eta = () => {
    if (workT0 === null || total === 0) return NaN;
    let done = stepsEnded;
    let left = Math.max(0, total - finished - slots.size) * stepsPerRun;
    for (const s of slots.values()) {
      done += s.steps;
      left += Math.max(0, s.label.epochs * s.label.stepsPerEpoch - s.steps);
    }
    const seconds = (now() - workT0) / 1000;
    return done > 0 && seconds > 0 ? left / (done / seconds) : NaN;
  };
  const clear = () => {
    if (tty && drawn > 0) write("\r\x1b[2K" + "\x1b[1A\r\x1b[2K".repeat(drawn - 1));
    drawn = 0;
  };
  const draw = (force = false) => {
    if (!tty) return;
    const t = now();
    if (!force && t - lastDraw < 100) return;
    lastDraw = t;
    const w = width();
    const lines = [
      barLine(
        phase === "sweep" ? "sweep" : "search",
        total ? finished / total : 0,
        24,
        `${total ? `${finished}/${total}` : finished} ${unit}  elapsed ${
          fmtTime((t - sweepT0) / 1000)
        }  ETA ${fmtTime(eta())}`,
        w,
      ),
    ];
    for (const [, s] of [...slots].sort(([a], [b]) => a - b)) {
      const steps = s.label.epochs * s.label.stepsPerEpoch;
      const loss = s.haveLoss
        ? ` loss ${Number.isFinite(s.loss) ? s.loss.toFixed(4) : String(s.loss)}`
        : "";
      lines.push(barLine(
        s.label.name.padEnd(Math.min(26, Math.floor(w / 3))),
        steps ? s.steps / steps : 0,
        20,
        `epoch ${
          s.epoch + 1
        }/${s.label.epochs} step ${s.stepInEpoch}/${s.label.stepsPerEpoch}${loss}`,
        w,
      ));
    }
    clear();
    write(lines.join("\n"));
    drawn = lines.length;
  };
  /** A line kept above the live display; the display's own lines (`fit`) are cut to width. */
  const line = (s: string, fit = false, out = write) => {
    clear();
    out(`${fit && tty ? clip(s, width()) : s}\n`);
    draw(true);
  };

  const sweep = {
    sweepStart(t: number, done: number, what = "sweep") {
      total = t;
      phase = what;
      unit = what === "sweep" ? "runs" : "trials";
      finished = done;
      started = done;
      sweepT0 = now();
      workT0 = null;
      stepsEnded = 0;
      line(`${what}: ${t} ${unit}, ${done} already finished, ${t - done} to run`, true);
    },
    message(s: string) {
      line(s);
    },
    error(s: string) {
      line(s, false, writeError);
    },
    end() {
      clear();
    },
    eta,
  };
  const slotSink = (index: number): Progress => ({
    ...sweep,
    runStart(label) {
      workT0 ??= now();
      stepsPerRun = label.epochs * label.stepsPerEpoch;
      slots.set(index, {
        label,
        n: ++started,
        steps: 0,
        loss: NaN,
        haveLoss: false,
        epoch: 0,
        stepInEpoch: 0,
      });
      draw(true);
    },
    step(epoch, step, loss) {
      const s = slots.get(index);
      if (!s) return;
      s.epoch = epoch;
      s.stepInEpoch = step + 1;
      s.steps = epoch * s.label.stepsPerEpoch + step + 1;
      s.loss = loss;
      s.haveLoss = true;
      draw();
    },
    epoch(epoch, valLoss, valError, seconds) {
      const s = slots.get(index);
      if (s) {
        s.steps = Math.max(s.steps, (epoch + 1) * s.label.stepsPerEpoch);
        s.epoch = epoch;
      }
      const head = `${place(s?.n ?? "?")} ${s?.label.name ?? ""}: epoch ${epoch + 1}/${
        s?.label.epochs ?? "?"
      }`;
      const loss = `val_loss ${valLoss.toFixed(4)}`;
      const error = `val_error ${(valError * 100).toFixed(2)}%`;
      // On a terminal the error comes first: it is what remains when the line is cut to width.
      if (tty) line(`${head} ${error} ${loss} (${seconds.toFixed(1)}s)`, true);
      else write(`${head} ${loss} ${error} (${seconds.toFixed(1)}s)\n`);
    },
    runEnd(status) {
      const s = slots.get(index);
      slots.delete(index);
      finished++;
      stepsEnded += s?.steps ?? 0;
      const left = total - finished;
      const msg = `${place(s?.n ?? finished)} ${s?.label.name ?? ""}: ${status}`;
      const etaLine = `${phase === "sweep" ? "sweep" : "search"} ETA ${fmtTime(eta())}`;
      line(left > 0 && !tty ? `${msg}; ${etaLine}` : msg, true);
    },
  });
  return { ...sweep, ...slotSink(0), slot: slotSink };
}

/**
 * A {@link Progress} that writes every call as one JSON line (`{"p":"step","a":[...]}`), for a
 * worker process reporting to its parent's display. Steps are sent at most every `everyMs`
 * milliseconds (the display redraws no faster).
 */
export function jsonProgress(
  write: (line: string) => void,
  opts: { everyMs?: number; now?: () => number } = {},
): Progress {
  const everyMs = opts.everyMs ?? 100;
  const now = opts.now ?? (() => performance.now());
  let last = -Infinity;
  const send = (p: keyof Progress, ...a: unknown[]) => write(JSON.stringify({ p, a }) + "\n");
  return {
    sweepStart: (t, d, w) => send("sweepStart", t, d, w),
    runStart: (l) => send("runStart", l),
    step(e, s, loss, err) {
      const t = now();
      if (t - last < everyMs) return;
      last = t;
      // JSON has no NaN: a diverged loss travels as a string
      send("step", e, s, Number.isFinite(loss) ? loss : String(loss), err);
    },
    epoch: (e, l, err, sec) => send("epoch", e, l, err, sec),
    runEnd: (s) => send("runEnd", s),
    message: (s) => send("message", s),
    end: () => send("end"),
  };
}

/**
 * Replays one line of {@link jsonProgress} into `into`; returns false when the line is not a
 * progress event (so the caller can handle it). `sweepStart` and `end` of a worker are not
 * replayed: the parent's display owns the sweep.
 */
export function replayProgress(line: string, into: Progress): boolean {
  let ev: { p?: unknown; a?: unknown };
  try {
    ev = JSON.parse(line);
  } catch {
    return false;
  }
  if (typeof ev !== "object" || ev === null || !Array.isArray(ev.a)) return false;
  const a = ev.a as never[];
  switch (ev.p) {
    case "runStart":
      into.runStart(a[0]);
      return true;
    case "step":
      into.step(a[0], a[1], Number(a[2]), a[3]);
      return true;
    case "epoch":
      into.epoch(a[0], a[1], a[2], a[3]);
      return true;
    case "runEnd":
      into.runEnd(a[0]);
      return true;
    case "message":
      into.message(a[0]);
      return true;
    case "sweepStart":
    case "end":
      return true;
  }
  return false;
}
