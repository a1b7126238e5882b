/**
 * How many CUDA devices this machine has, without loading the CUDA library: the devices
 * `nvidia-smi -L` lists (none when it is missing or fails, as on a machine without a GPU or
 * driver). The build script builds the CUDA library only when there is one, the experiment CLI
 * starts one worker per device, and backend selection says which of the two is missing.
 *
 * @module
 */

let cached: number | undefined;

/** The number of CUDA devices `nvidia-smi -L` lists; 0 without one (cached per process). */
export function cudaDeviceCount(): number {
  if (cached !== undefined) return cached;
  try {
    const out = new Deno.Command("nvidia-smi", { args: ["-L"], stdout: "piped", stderr: "null" })
      .outputSync();
    cached = out.success
      ? new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.startsWith("GPU ")).length
      : 0;
  } catch {
    cached = 0; // not installed, or not allowed to run
  }
  return cached;
}
