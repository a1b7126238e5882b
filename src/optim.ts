/**
 * Optimizers: SGD, momentum (classic and Nesterov), Adam and AdamW, written once over
 * {@link applyUpdate}. Every parameter's learning-rate multiplier and weight-decay flag are
 * honoured (ConvNetJS style), which is how `sh4` or `biased8` are expressed. Optional adaptive
 * gradient clipping (`agc: λ`, Brock et al. 2021) rescales the gradient of each output unit of
 * the parameters whose `agc` flag is set before the update.
 *
 * @module
 */
import type { HostArray, UpdateRule } from "./backend.ts";
import type { Param } from "./param.ts";
import * as ops from "./ops.ts";
import { applyUpdate } from "./ops.ts";
import { fmtShape, Tensor, tidy } from "./tensor.ts";

/** The optimizer kinds. */
export const OPTIMIZER_KINDS = ["sgd", "momentum", "nesterov", "adam", "adamw"] as const;

/** One of {@link OPTIMIZER_KINDS}. */
export type OptimizerKind = typeof OPTIMIZER_KINDS[number];

/** Optimizer hyperparameters; the defaults are the usual ones (SPEC §4). */
export type OptimizerConfig = {
  /** Update rule. `adam` uses L2 weight decay, `adamw` decoupled decay. */
  kind: OptimizerKind;
  /** Base learning rate (>= 0), multiplied per parameter by `Param.lrMult`. */
  lr: number;
  /** Momentum coefficient for `momentum` and `nesterov`; default 0.9. */
  momentum?: number;
  /** Adam first-moment decay; default 0.9. */
  beta1?: number;
  /** Adam second-moment decay; default 0.999. */
  beta2?: number;
  /** Adam denominator epsilon; default 1e-8. */
  eps?: number;
  /**
   * Weight decay (default 0), applied only to parameters with `decay` true: L2 (added to the
   * gradient) for every kind except `adamw`, where it is decoupled.
   */
  weightDecay?: number;
  /**
   * Adaptive gradient clipping λ (default 0: off). For every parameter with `agc` set (conv and
   * dense weights but the classifier's), per output unit `i`: if
   * `‖G_i‖ > λ · max(‖W_i‖, 1e-3)`, `G_i ← G_i · λ · max(‖W_i‖, 1e-3) / ‖G_i‖`.
   */
  agc?: number;
};

/** The floor of a unit's weight norm in adaptive gradient clipping. */
export const AGC_EPS = 1e-3;

/**
 * Adaptive gradient clipping of `grad` in place, per output unit (the first axis of `weight`):
 * a unit whose gradient norm exceeds `lambda · max(‖W_i‖, 1e-3)` is scaled to that norm, the
 * others are left exactly as they were (factor 1).
 */
export function clipGradientAdaptive(weight: Tensor, grad: Tensor, lambda: number): void {
  tidy(() => {
    const units = weight.shape[0];
    const rows = (t: Tensor) => t.reshape([units, t.size / units]);
    const norm = (t: Tensor) => ops.unary("sqrt", ops.sum(ops.unary("square", rows(t)), [1], true));
    const constant = (v: number) => Tensor.full(weight.backend, [1], v, weight.dtype);
    const limit = ops.scale(ops.binary("max", norm(weight), constant(AGC_EPS)), lambda);
    const factor = ops.binary("min", ops.div(limit, norm(grad)), constant(1));
    ops.mul(rows(grad), factor, rows(grad));
  });
}

/** What a state dictionary holds: state slots as host arrays, plus scalar counters. */
export type OptimizerState = Record<string, Float32Array | Float64Array | number>;

function checkRange(name: string, v: number, lo: number, hi: number, hiOpen: boolean): void {
  const ok = Number.isFinite(v) && v >= lo && (hiOpen ? v < hi : v <= hi);
  if (!ok) {
    const range = `[${lo}, ${hi}${hiOpen ? ")" : "]"}`;
    throw new Error(`optimizer: ${name} must be a number in ${range}, got ${v}`);
  }
}

/** Validates a config and fills in the defaults; throws naming the bad field. */
export function resolveOptimizerConfig(config: OptimizerConfig): Required<OptimizerConfig> {
  if (!config || typeof config !== "object") {
    throw new Error(`optimizer: config must be an object, got ${String(config)}`);
  }
  if (!(OPTIMIZER_KINDS as readonly string[]).includes(config.kind)) {
    throw new Error(
      `optimizer: unknown kind '${config.kind}', expected one of ${OPTIMIZER_KINDS.join(", ")}`,
    );
  }
  const r: Required<OptimizerConfig> = {
    kind: config.kind,
    lr: config.lr,
    momentum: config.momentum ?? 0.9,
    beta1: config.beta1 ?? 0.9,
    beta2: config.beta2 ?? 0.999,
    eps: config.eps ?? 1e-8,
    weightDecay: config.weightDecay ?? 0,
    agc: config.agc ?? 0,
  };
  checkRange("learning rate (lr)", r.lr, 0, Infinity, true);
  checkRange("momentum", r.momentum, 0, 1, true);
  checkRange("beta1", r.beta1, 0, 1, true);
  checkRange("beta2", r.beta2, 0, 1, true);
  checkRange("weightDecay", r.weightDecay, 0, Infinity, true);
  checkRange("agc", r.agc, 0, Infinity, true);
  if (!(Number.isFinite(r.eps) && r.eps > 0)) {
    throw new Error(`optimizer: eps must be a positive number, got ${r.eps}`);
  }
  return r;
}

/** Names of the state slots each kind keeps per parameter. */
function slotNames(kind: OptimizerKind): string[] {
  switch (kind) {
    case "sgd":
      return [];
    case "momentum":
    case "nesterov":
      return ["velocity"];
    case "adam":
    case "adamw":
      return ["m", "v"];
  }
}

/**
 * A first-order optimizer over a fixed list of parameters. `step()` updates every parameter
 * in place from its accumulated gradient (it does not zero the gradients). State slots are
 * allocated lazily, on each parameter's own backend, at its first update.
 */
export class Optimizer {
  /** The resolved hyperparameters (defaults filled in). */
  readonly config: Readonly<Required<OptimizerConfig>>;
  /** Number of `step()` calls so far (Adam's bias-correction counter). */
  stepCount = 0;
  #lr: number;
  #params: Param[];
  #state = new Map<Param, Tensor[]>();

  /** Creates an optimizer; throws on an invalid config or duplicate parameter names. */
  constructor(params: Param[], config: OptimizerConfig) {
    this.config = resolveOptimizerConfig(config);
    this.#lr = this.config.lr;
    const seen = new Set<string>();
    for (const p of params) {
      if (seen.has(p.name)) {
        throw new Error(`optimizer: duplicate parameter name '${p.name}'; names must be unique`);
      }
      seen.add(p.name);
    }
    this.#params = [...params];
  }

  /** The current base learning rate; settable (e.g. by a schedule), must stay >= 0. */
  get lr(): number {
    return this.#lr;
  }
  set lr(v: number) {
    checkRange("learning rate (lr)", v, 0, Infinity, true);
    this.#lr = v;
  }

  /** The parameters this optimizer updates. */
  get params(): readonly Param[] {
    return this.#params;
  }

  /** The update rule for one parameter (its multiplier and decay flag applied). */
  ruleFor(p: Param): UpdateRule {
    const c = this.config;
    const lr = this.#lr * p.lrMult;
    const wd = p.decay ? c.weightDecay : 0;
    switch (c.kind) {
      case "sgd":
        return { kind: "sgd", lr, weightDecay: wd };
      case "momentum":
      case "nesterov":
        return {
          kind: "momentum",
          lr,
          momentum: c.momentum,
          nesterov: c.kind === "nesterov",
          weightDecay: wd,
        };
      case "adam":
      case "adamw":
        return {
          kind: "adam",
          lr,
          beta1: c.beta1,
          beta2: c.beta2,
          eps: c.eps,
          step: this.stepCount,
          weightDecay: wd,
          decoupled: c.kind === "adamw",
        };
    }
  }

  #slots(p: Param): Tensor[] {
    let s = this.#state.get(p);
    if (!s) {
      s = slotNames(this.config.kind).map(() =>
        Tensor.zeros(p.value.backend, p.value.shape, p.value.dtype).keep()
      );
      this.#state.set(p, s);
    }
    return s;
  }

  /**
   * Applies one update to every parameter (parameters with multiplier 0 are left alone), after
   * adaptive gradient clipping of the `agc` parameters when `agc` is set.
   */
  step(): void {
    this.stepCount++;
    const agc = this.config.agc;
    for (const p of this.#params) {
      if (p.lrMult === 0) continue;
      if (agc > 0 && p.agc) clipGradientAdaptive(p.value, p.grad, agc);
      applyUpdate(this.ruleFor(p), p.value, p.grad, this.#slots(p));
    }
  }

  /**
   * A host copy of the state: `step` and `lr`, plus `<param name>.<slot>` for every allocated
   * slot (`velocity`, or `m` and `v`).
   */
  stateDict(): OptimizerState {
    const out: OptimizerState = { step: this.stepCount, lr: this.#lr };
    const names = slotNames(this.config.kind);
    for (const p of this.#params) {
      const s = this.#state.get(p);
      if (!s) continue;
      s.forEach((t, i) => (out[`${p.name}.${names[i]}`] = t.toArray()));
    }
    return out;
  }

  /**
   * Restores a state produced by {@link stateDict} (possibly of another optimizer over
   * parameters with the same names and shapes). Throws on unknown keys or size mismatches.
   */
  loadStateDict(s: OptimizerState): void {
    const step = s.step;
    if (typeof step !== "number" || !Number.isInteger(step) || step < 0) {
      throw new Error(`optimizer state: 'step' must be a non-negative integer, got ${step}`);
    }
    const byName = new Map(this.#params.map((p) => [p.name, p]));
    const names = slotNames(this.config.kind);
    const pending: [Param, number, HostArray][] = [];
    for (const [key, value] of Object.entries(s)) {
      if (key === "step" || key === "lr") continue;
      const dot = key.lastIndexOf(".");
      const pname = key.slice(0, dot);
      const slot = names.indexOf(key.slice(dot + 1));
      const p = byName.get(pname);
      if (dot < 0 || slot < 0 || !p) {
        throw new Error(
          `optimizer state: unexpected key '${key}' for a ${this.config.kind} optimizer ` +
            `(expected 'step', 'lr' or '<parameter>.${names.join("|") || "<no slots>"}')`,
        );
      }
      if (typeof value === "number" || value.length !== p.value.size) {
        const got = typeof value === "number" ? "a number" : `${value.length} values`;
        throw new Error(
          `optimizer state: '${key}' needs ${p.value.size} values for parameter ` +
            `${fmtShape(p.value.shape)}, got ${got}`,
        );
      }
      pending.push([p, slot, value]);
    }
    for (const p of this.#params) {
      const got = pending.filter(([q]) => q === p).length;
      if (got !== 0 && got !== names.length) {
        throw new Error(
          `optimizer state: parameter '${p.name}' has ${got} of ${names.length} slots`,
        );
      }
    }
    this.#disposeState();
    for (const [p, slot, value] of pending) {
      const slots = this.#slots(p);
      p.value.backend.upload(slots[slot].buf, value);
    }
    this.stepCount = step;
    if (typeof s.lr === "number") this.lr = s.lr;
  }

  #disposeState(): void {
    for (const s of this.#state.values()) for (const t of s) t.dispose();
    this.#state.clear();
  }

  /** Releases the state slots. */
  dispose(): void {
    this.#disposeState();
  }
}
