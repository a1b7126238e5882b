import assert from "node:assert/strict";
import { createProgress } from "../src/progress.ts";

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
  assert.equal(screen.filter((l) => /ETA/.test(l)).length, 2, all);
  assert.match(screen[4], /^sweep █░+ 2\/33 runs {2}elapsed \d+:\d\d {2}ETA --:--$/);
  assert.match(screen[5], /^lsh_lsc\+dropout lr=0\.0123 run 12 .*epoch 3\/10 step 40\/1563 loss/);
  assert.match(screen[1], /epoch 1\/10 val_error 12\.34%/, "the error survives the cut");
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
    p.runStart({ name: "csh_csc lr=0.01 run 2", epochs: 3, stepsPerEpoch: 313 });
    for (let s = 0; s < 30; s++) p.step(0, s, 0.5, 0.1);
    const screen = term.screen();
    assert.equal(screen.length, 3, `${cols} columns:\n${screen.join("\n")}`);
    for (const l of screen) assert.ok([...l].length < cols, `${cols} columns: ${l}`);
  }
});
