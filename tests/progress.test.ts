import assert from "node:assert/strict";
import { createProgress, jsonProgress, replayProgress } from "../src/progress.ts";

/**
 * A minimal terminal: `cols` columns with auto-wrap, `\r`, `\n`, erase line (`ESC[2K`) and
 * cursor up (`ESC[1A`), the sequences the live display uses. `screen()` is what is left on it.
 */
function terminal(cols: number) {
  const rows: string[][] = [[]];
  let r = 0;
  let c = 0;
  const write = (s: string) => {
    for (let i = 0; i < s.length;) {
      if (s.startsWith("\x1b[2K", i)) {
        rows[r] = [];
        i += 4;
      } else if (s.startsWith("\x1b[1A", i)) {
        r = Math.max(0, r - 1);
        i += 4;
      } else {
        const ch = s[i++];
        if (ch === "\r") c = 0;
        else if (ch === "\n") {
          rows[++r] ??= [];
          c = 0;
        } else {
          if (c >= cols) { // the terminal wraps: the line takes another row
            rows[++r] ??= [];
            c = 0;
          }
          rows[r][c++] = ch;
        }
      }
    }
  };
  return { write, screen: () => rows.map((row) => row.join("")).filter((l) => l !== "") };
}

Deno.test("progress: live lines fit an 80-column terminal and leave nothing behind; no NaN before a loss", () => {
  const term = terminal(80);
  let t = 0;
  // passed as a variable: the width option reaches the display however it is spelled
  const opts = { tty: true, write: term.write, now: () => (t += 150), columns: () => 80 };
  const p = createProgress(opts);
  p.sweepStart(33, 2);
  p.runStart({ name: "lsh_lsc+dropout lr=0.0123 run 12", epochs: 10, stepsPerEpoch: 1563 });
  assert.doesNotMatch(term.screen().join("\n"), /NaN/, "no loss before the first step");
  for (let e = 0; e < 2; e++) {
    for (let s = 0; s < 40; s++) p.step(e, s, 2.302585 - s / 100, 0.5);
    p.epoch(e, 0.4, 0.1234, 12.5);
  }
  p.message("learning-rate search: plain 0.01, bn 0.04");
  for (let s = 0; s < 40; s++) p.step(2, s, 0.25, 0.1);
  const screen = term.screen();
  const all = screen.join("\n");
  for (const l of screen) assert.ok([...l].length < 80, `fits: ${l}`);
  // the sweep line, two epoch lines and the message, then the two live lines: nothing stale
  assert.equal(screen.length, 4 + 2, all);
  assert.match(screen[4], /^sweep █░+ 2\/33 runs {2}elapsed \d+:\d\d {2}ETA \d+(:\d\d)+$/);
  assert.match(screen[5], /^lsh_lsc\+dropout lr=0\.0123 run 12 .*epoch 3\/10 step 40\/1563 loss/);
  assert.match(
    screen[1],
    /^\[3\/33\] .*epoch 1\/10 val_error 12\.34%/,
    "the error survives the cut",
  );
  // a loss that is NaN (divergence) is still shown as such
  p.step(2, 40, NaN, 1);
  assert.match(term.screen().at(-1)!, /loss NaN/);
  p.end();
  assert.equal(term.screen().filter((l) => /ETA/.test(l)).length, 0, "end() clears them");
});

Deno.test("progress: a narrow terminal truncates the live lines instead of wrapping them", () => {
  for (const cols of [40, 60, 100]) {
    const term = terminal(cols);
    let t = 0;
    const opts = { tty: true, write: term.write, now: () => (t += 150), columns: () => cols };
    const p = createProgress(opts);
    p.sweepStart(3, 0);
    for (let j = 0; j < 2; j++) {
      p.slot(j).runStart({ name: `csh_csc lr=0.01 run ${j}`, epochs: 3, stepsPerEpoch: 313 });
      for (let s = 0; s < 30; s++) p.slot(j).step(0, s, 0.5, 0.1);
    }
    const screen = term.screen();
    assert.equal(screen.length, 4, `${cols} columns:\n${screen.join("\n")}`);
    for (const l of screen) assert.ok([...l].length < cols, `${cols} columns: ${l}`);
  }
});

Deno.test("progress: every run in flight has its line; the sweep's ETA comes from the steps done", () => {
  const term = terminal(120);
  let t = 0;
  const p = createProgress({ tty: true, write: term.write, now: () => t, columns: () => 120 });
  p.sweepStart(6, 0); // 6 runs of 2 x 50 steps
  const label = (k: number) => ({ name: `plain lr=0.01 run ${k}`, epochs: 2, stepsPerEpoch: 50 });
  p.slot(0).runStart(label(0));
  p.slot(1).runStart(label(1));
  assert.match(term.screen().at(-3)!, /ETA --:--$/, "no ETA before a step");
  // 10 s in, each run has done 25 steps: 50 steps in 10 s, 600 - 50 = 550 to go: 110 s
  t = 9_800;
  p.slot(1).step(0, 24, 1, 0.5);
  t = 10_000; // the display redraws at most every 100 ms
  p.slot(0).step(0, 24, 1, 0.5);
  let screen = term.screen().slice(1); // after the "sweep: 6 runs" line
  assert.equal(screen.length, 3, screen.join("\n"));
  assert.match(screen[0], /0\/6 runs {2}elapsed 0:10 {2}ETA 1:50$/);
  assert.match(screen[1], /^plain lr=0\.01 run 0 .*epoch 1\/2 step 25\/50/);
  assert.match(screen[2], /^plain lr=0\.01 run 1 .*epoch 1\/2 step 25\/50/);
  assert.equal(Math.round(p.eta()), 110);
  // slot 0 finishes (100 steps), slot 1 is at 50, 20 s in: 150 steps in 20 s, 450 to go: 60 s
  t = 20_000;
  p.slot(0).epoch(1, 0.5, 0.1, 5);
  p.slot(0).runEnd("done in 20.0s");
  p.slot(1).epoch(0, 0.5, 0.1, 5);
  assert.equal(Math.round(p.eta()), 60);
  screen = term.screen();
  assert.match(screen.at(-2)!, /1\/6 runs {2}elapsed 0:20 {2}ETA 1:00$/);
  assert.match(screen.at(-1)!, /^plain lr=0\.01 run 1 /, "the finished run's line is gone");
  assert.ok(
    screen.some((l) => l === "[1/6] plain lr=0.01 run 0: done in 20.0s"),
    screen.join("\n"),
  );
  p.slot(0).runStart(label(2));
  assert.ok(term.screen().at(-2)!.startsWith("plain lr=0.01 run 2"), "the next run takes slot 0");
});

Deno.test("progress: plain mode writes one line per finished epoch and run, with the sweep's ETA", () => {
  let out = "";
  let t = 0;
  const p = createProgress({ tty: false, write: (s) => void (out += s), now: () => t });
  p.sweepStart(2, 0);
  p.runStart({ name: "plain lr=0.01 run 0", epochs: 2, stepsPerEpoch: 3 });
  for (let s = 0; s < 3; s++) p.step(0, s, 1, 0.5);
  t = 1500;
  p.epoch(0, 0.9, 0.25, 1.5);
  t = 3000;
  p.epoch(1, 0.8, 0.2, 1.5);
  p.runEnd("done");
  p.runStart({ name: "bn lr=0.04 run 0", epochs: 2, stepsPerEpoch: 3 });
  p.runEnd("interrupted, not recorded");
  p.end();
  assert.deepEqual(out.trim().split("\n"), [
    "sweep: 2 runs, 0 already finished, 2 to run",
    "[1/2] plain lr=0.01 run 0: epoch 1/2 val_loss 0.9000 val_error 25.00% (1.5s)",
    "[1/2] plain lr=0.01 run 0: epoch 2/2 val_loss 0.8000 val_error 20.00% (1.5s)",
    "[1/2] plain lr=0.01 run 0: done; sweep ETA 0:03",
    "[2/2] bn lr=0.04 run 0: interrupted, not recorded",
  ]);
});

Deno.test("progress: a worker's calls travel as JSON lines and replay into the parent's slot", () => {
  const lines: string[] = [];
  let t = 0;
  const w = jsonProgress((l) => void lines.push(l), { now: () => (t += 40) });
  w.runStart({ name: "sh lr=0.01 run 3", epochs: 1, stepsPerEpoch: 10 });
  for (let s = 0; s < 10; s++) w.step(0, s, s === 9 ? NaN : 0.5, 0.25);
  w.epoch(0, 0.4, 0.125, 2);
  w.message("a message");
  w.runEnd("diverged at step 9");
  assert.ok(lines.every((l) => l.endsWith("\n") && JSON.parse(l)), "one JSON object a line");
  assert.ok(lines.filter((l) => l.includes('"step"')).length < 10, "steps are thinned out");
  const calls: string[] = [];
  const into = {
    sweepStart: () => calls.push("sweepStart"),
    runStart: (l: { name: string }) => calls.push(`runStart ${l.name}`),
    step: (e: number, s: number, loss: number) => calls.push(`step ${e} ${s} ${loss}`),
    epoch: (e: number, l: number, err: number) => calls.push(`epoch ${e} ${l} ${err}`),
    runEnd: (s: string) => calls.push(`runEnd ${s}`),
    message: (s: string) => calls.push(`message ${s}`),
    end: () => calls.push("end"),
  };
  for (const l of lines) assert.ok(replayProgress(l.trim(), into));
  assert.equal(calls[0], "runStart sh lr=0.01 run 3");
  assert.ok(calls.includes("step 0 9 NaN"), "a NaN loss arrives as NaN");
  assert.deepEqual(calls.slice(-3), [
    "epoch 0 0.4 0.125",
    "message a message",
    "runEnd diverged at step 9",
  ]);
  assert.equal(replayProgress('{"ready":true}', into), false, "not a progress event");
  assert.equal(replayProgress("plain text", into), false);
});

Deno.test("progress: a counted learning-rate search shows trials [n/N]; an open-ended one [n]", () => {
  const out: string[] = [];
  const p = createProgress({ tty: false, write: (t) => out.push(t), now: () => 0 });
  // open-ended (anchors first): no total, so no [1/0]
  p.runStart({ name: "plain lr=0.1 run 0", epochs: 1, stepsPerEpoch: 2 });
  p.epoch(0, 1, 0.5, 1);
  p.runEnd("done in 1.0s");
  assert.match(out.join(""), /^\[1\] plain lr=0\.1 run 0: epoch 1\/1 /m);
  assert.match(out.join(""), /^\[1\] plain lr=0\.1 run 0: done in 1\.0s\n/m);
  assert.doesNotMatch(out.join(""), /\/0\]/);
  out.length = 0;
  // counted: a phase of its own, then the sweep counts from 1 again
  p.sweepStart(3, 1, "learning-rate search");
  p.runStart({ name: "plain lr=0.01 run 0", epochs: 1, stepsPerEpoch: 2 });
  p.runEnd("done in 1.0s");
  p.sweepStart(4, 0);
  p.runStart({ name: "bn lr=0.04 run 0", epochs: 1, stepsPerEpoch: 2 });
  p.runEnd("done in 1.0s");
  const text = out.join("");
  assert.match(text, /^learning-rate search: 3 trials, 1 already finished, 2 to run$/m);
  assert.match(text, /^\[2\/3\] plain lr=0\.01 run 0: done in 1\.0s; search ETA /m);
  assert.match(text, /^sweep: 4 runs, 0 already finished, 4 to run$/m);
  assert.match(text, /^\[1\/4\] bn lr=0\.04 run 0: done in 1\.0s; sweep ETA /m);
});
