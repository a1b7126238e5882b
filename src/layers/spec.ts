/**
 * What a layer declares to the registry (`registry.ts`): its spec type (plain JSON data, one
 * object per layer of an architecture, told apart by `type`), the rules of the spec's fields,
 * how a layer is built from a spec and read back into one, a one-line description and an
 * example. Each layer's own file declares its {@link LayerDef} as an exported constant.
 *
 * @module
 */
import type { Layer } from "./layer.ts";

/** The rule of one field of a layer spec. */
export interface FieldRule {
  /** What a valid value is, for error messages, e.g. `a positive integer`. */
  readonly expected: string;
  /** Whether the field may be left out. */
  readonly optional: boolean;
  /**
   * Whether the field is the layer's output width (conv channels, dense units), which an
   * architecture's `width` option scales.
   */
  readonly width: boolean;
  /**
   * Whether the field holds a list of layer specs (the sub-layers of a container such as a
   * residual block), which the registry validates recursively, naming the field and index.
   */
  readonly layers: boolean;
  /** Whether `v` is a valid value. */
  valid(v: unknown): boolean;
}

/** One {@link FieldRule} for every field of spec type `S` besides `type`. */
export type FieldRules<S> = { readonly [K in Exclude<keyof S, "type">]-?: FieldRule };

/**
 * What the registry lends a container layer (one whose spec holds sub-layer specs) to build its
 * sub-layers and read their specs back, so layer files need not import the registry.
 */
export interface SubLayers {
  /** A new, unbuilt layer from a validated spec. */
  build(spec: { type: string }): Layer;
  /** The spec of a layer of a registered class, every field given. */
  spec(layer: Layer): { type: string };
}

/** Everything the registry knows about one layer type. */
export interface LayerDef<S extends { type: string }, L extends Layer> {
  /** The spec's `type`, e.g. `conv`. */
  readonly type: S["type"];
  /** One line: what the layer computes. */
  readonly description: string;
  /** The rules of the spec's fields (validation, with errors naming the field). */
  readonly fields: FieldRules<S>;
  /**
   * A valid spec and a per-sample input shape it accepts: documentation, and what the
   * gradient-check suite checks for every registered layer.
   */
  readonly example: { readonly spec: S; readonly inputShape: readonly number[] };
  /** The layer class (a spec is read back from instances of exactly this class). */
  readonly layer: abstract new (...args: never[]) => L;
  /** A new, unbuilt layer from a validated spec (`sub` builds a container's sub-layers). */
  build(spec: S, sub: SubLayers): L;
  /**
   * The spec of an existing layer, every field given: `build(toSpec(l))` is the same layer
   * (`sub` reads a container's sub-layers back).
   */
  toSpec(layer: L, sub: SubLayers): S;
}

/** The spec type of a {@link LayerDef} type (distributes over a union of them). */
export type SpecOf<D> = D extends LayerDef<infer S, infer _L> ? S : never;

/** A {@link LayerDef} of any layer type. */
export type AnyLayerDef = LayerDef<{ type: string }, Layer>;

function rule(expected: string, valid: (v: unknown) => boolean): FieldRule {
  return { expected, optional: false, width: false, layers: false, valid };
}

/** A required field holding a positive integer. */
export const positiveInt: FieldRule = rule(
  "a positive integer",
  (v) => Number.isInteger(v) && (v as number) > 0,
);

/** A required field holding a non-negative integer. */
export const nonNegativeInt: FieldRule = rule(
  "a non-negative integer",
  (v) => Number.isInteger(v) && (v as number) >= 0,
);

/** A required field holding a finite number > 0. */
export const positiveNumber: FieldRule = rule(
  "a number > 0",
  (v) => typeof v === "number" && Number.isFinite(v) && v > 0,
);

/** A required field holding `true` or `false`. */
export const boolean: FieldRule = rule("true or false", (v) => typeof v === "boolean");

/** A required field holding a finite number in `[min, max]` (`max` exclusive when `open`). */
export function numberIn(min: number, max = Infinity, open = false): FieldRule {
  const upper = max === Infinity ? "" : ` and ${open ? "<" : "<="} ${max}`;
  return rule(
    `a number >= ${min}${upper}`,
    (v) => typeof v === "number" && Number.isFinite(v) && v >= min && (open ? v < max : v <= max),
  );
}

/** A required field holding one of `values`. */
export function oneOf(values: readonly string[]): FieldRule {
  return rule(`one of ${values.join(", ")}`, (v) => values.includes(v as string));
}

/**
 * A required field holding a list of layer specs (a container's sub-layers), each validated by
 * the registry; `empty` allows an empty list.
 */
export function layerList(empty: boolean): FieldRule {
  return {
    ...rule(
      `a ${empty ? "" : "non-empty "}list of layer specs`,
      (v) => Array.isArray(v) && (empty || v.length > 0),
    ),
    layers: true,
  };
}

/** The same rule for a field that may be left out. */
export function optional(r: FieldRule): FieldRule {
  return { ...r, optional: true };
}

/** The same rule for the field that is the layer's output width. */
export function width(r: FieldRule): FieldRule {
  return { ...r, width: true };
}
