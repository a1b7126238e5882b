/**
 * Test runner behind `deno task test`: runs `deno test` over tests/ (or the given paths),
 * streams its output, and prints the totals as the last line, `N passed, N failed`, which CI
 * reads. Exits with deno test's status.
 *
 * @module
 */

const args = Deno.args.length > 0 ? Deno.args : ["tests/"];
const cmd = new Deno.Command(Deno.execPath(), {
  args: ["test", "-A", "--parallel", ...args],
  stdout: "piped",
  stderr: "inherit",
  env: { NO_COLOR: "1" },
});
const child = cmd.spawn();
const decoder = new TextDecoder();
let tail = "";
let passed = -1;
let failed = -1;
let ignored = 0;
const summary =
  /^(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed(?: \(\d+ steps?\))?(?: \| (\d+) ignored)?/;
for await (const chunk of child.stdout) {
  await Deno.stdout.write(chunk);
  tail += decoder.decode(chunk, { stream: true });
  const lines = tail.split("\n");
  tail = lines.pop() ?? "";
  for (const line of lines) {
    const m = summary.exec(line.trim());
    if (m) {
      passed = Number(m[1]);
      failed = Number(m[2]);
      ignored = Number(m[3] ?? 0);
    }
  }
}
const m = summary.exec(tail.trim());
if (m) {
  passed = Number(m[1]);
  failed = Number(m[2]);
  ignored = Number(m[3] ?? 0);
}
const status = await child.status;
if (passed < 0) {
  // deno test died before its summary (e.g. a type error): count that as a failure.
  console.log("\ndeno test ended without a summary (see the errors above)");
  console.log(`0 passed, 1 failed`);
  Deno.exit(status.code === 0 ? 1 : status.code);
}
console.log("");
if (ignored) console.log(`${ignored} ignored`);
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(status.code);
