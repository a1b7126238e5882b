/**
 * Progress display: on a terminal, a live two-line display (the sweep's bar and the current
 * run's bar: epoch, step, loss, ETA); otherwise one plain line per epoch and per finished run,
 * suitable for logs and batch schedulers. The live lines are fitted to the terminal's width
 * (bars shrink, then the line is cut with `…`), so a redraw never wraps and leaves rows behind;
 * the loss is shown once the run has reported one.
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

/** The progress sink the experiment engine reports to. */
export interface Progress {
  /** The sweep starts: `total` runs in this process's share, `done` of them already finished. */
  sweepStart(total: number, done: number): void;
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

function fmtTime(s: number): string {
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
  /** Prefix of every plain line (e.g. a worker id). */
  prefix?: string;
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

/** Creates the progress display for the current output. */
export function createProgress(opts: ProgressOptions = {}): Progress {
  const enc = new TextEncoder();
  const write = opts.write ?? ((t: string) => Deno.stdout.writeSync(enc.encode(t)));
  const tty = opts.tty ?? Deno.stdout.isTerminal();
  const now = opts.now ?? (() => performance.now());
  const columns = opts.columns ?? consoleColumns;
  const prefix = opts.prefix ? `${opts.prefix} ` : "";
  let total = 0;
  let finished = 0;
  let sweepT0 = now();
  let ranThisSession = 0;
  let label: RunLabel | null = null;
  let runT0 = 0;
  let lastDraw = 0;
  let lastLoss = NaN;
  let haveLoss = false;
  let lastEpoch = 0;
  let lastStep = 0;
  let drawn = false;

  const clear = () => {
    if (tty && drawn) write("\r\x1b[2K\x1b[1A\r\x1b[2K");
    drawn = false;
  };
  const draw = (force = false) => {
    if (!tty) return;
    const t = now();
    if (!force && t - lastDraw < 100) return;
    lastDraw = t;
    // One column short of the width: a line that fills the last column wraps on some terminals.
    const width = Math.max(10, columns() - 1);
    const sweepEta = ranThisSession > 0
      ? ((t - sweepT0) / 1000 / ranThisSession) * (total - finished)
      : NaN;
    const l1 = barLine(
      "sweep",
      total ? finished / total : 0,
      24,
      `${finished}/${total} runs  elapsed ${fmtTime((t - sweepT0) / 1000)}  ETA ${
        fmtTime(sweepEta)
      }`,
      width,
    );
    let l2 = "";
    if (label) {
      const steps = label.epochs * label.stepsPerEpoch;
      const doneSteps = lastEpoch * label.stepsPerEpoch + lastStep;
      const el = (t - runT0) / 1000;
      const eta = doneSteps > 0 ? (el / doneSteps) * (steps - doneSteps) : NaN;
      const loss = haveLoss
        ? ` loss ${Number.isFinite(lastLoss) ? lastLoss.toFixed(4) : String(lastLoss)}`
        : "";
      l2 = barLine(
        label.name.padEnd(Math.min(26, Math.floor(width / 3))),
        steps ? doneSteps / steps : 0,
        20,
        `epoch ${lastEpoch + 1}/${label.epochs} step ${lastStep}/${label.stepsPerEpoch}${loss} ` +
          `ETA ${fmtTime(eta)}`,
        width,
      );
    }
    clear();
    write(`${l1}\n${l2}`);
    drawn = true;
  };
  /** A line kept above the live display; the display's own lines (`fit`) are cut to width. */
  const line = (s: string, fit = false) => {
    clear();
    write(`${fit && tty ? clip(prefix + s, Math.max(10, columns() - 1)) : prefix + s}\n`);
    draw(true);
  };

  return {
    sweepStart(t, done) {
      total = t;
      finished = done;
      sweepT0 = now();
      ranThisSession = 0;
      line(`sweep: ${t} runs, ${done} already finished, ${t - done} to run`, true);
    },
    runStart(l) {
      label = l;
      runT0 = now();
      lastEpoch = 0;
      lastStep = 0;
      lastLoss = NaN;
      haveLoss = false;
      if (!tty) write(`${prefix}[${finished + 1}/${total}] ${l.name}: start\n`);
      draw(true);
    },
    step(epoch, step, loss) {
      lastEpoch = epoch;
      lastStep = step + 1;
      lastLoss = loss;
      haveLoss = true;
      draw();
    },
    epoch(epoch, valLoss, valError, seconds) {
      lastEpoch = epoch;
      const head = `[${finished + 1}/${total}] ${label?.name ?? ""}: epoch ${epoch + 1}/${
        label?.epochs ?? "?"
      }`;
      const loss = `val_loss ${valLoss.toFixed(4)}`;
      const error = `val_error ${(valError * 100).toFixed(2)}%`;
      // On a terminal the error comes first: it is what remains when the line is cut to width.
      if (tty) line(`${head} ${error} ${loss} (${seconds.toFixed(1)}s)`, true);
      else write(`${prefix}${head} ${loss} ${error} (${seconds.toFixed(1)}s)\n`);
    },
    runEnd(status) {
      finished++;
      ranThisSession++;
      const msg = `[${finished}/${total}] ${label?.name ?? ""}: ${status}`;
      label = null;
      line(msg, true);
    },
    message(s) {
      line(s);
    },
    end() {
      clear();
    },
  };
}
