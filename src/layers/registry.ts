/**
 * The layer registry: every layer type an architecture may name, looked up by its spec's
 * `type`. Specs are plain JSON data, so a network can be written in a config file; this module
 * validates them (errors name the layer's index and the field), builds layers from them and
 * reads a built network back into specs (what checkpoints store).
 *
 * The list itself is `registered.ts`, one line per layer type; each layer's file declares its
 * spec type and {@link LayerDef}. {@link LayerSpec}, the union of every registered spec type,
 * is derived from that list.
 *
 * @module
 */
import type { Layer } from "./layer.ts";
import * as registered from "./registered.ts";
import type { AnyLayerDef, FieldRule, SpecOf, SubLayers } from "./spec.ts";

/** One layer of an architecture as plain data: the union of every registered spec type. */
export type LayerSpec = SpecOf<typeof registered[keyof typeof registered]>;

/** A registered layer type, e.g. `conv`. */
export type LayerType = LayerSpec["type"];

/** Every registered layer definition, sorted by type. */
export const LAYERS: readonly AnyLayerDef[] = (Object.values(registered) as AnyLayerDef[])
  .sort((a, b) => (a.type < b.type ? -1 : 1));

const BY_TYPE = new Map(LAYERS.map((d) => [d.type, d]));

/** The registered layer types, sorted. */
export const LAYER_TYPES: readonly string[] = LAYERS.map((d) => d.type);

function json(v: unknown): string {
  return v === undefined ? "nothing" : JSON.stringify(v);
}

/** The definition of a registered layer type; throws listing the registered ones. */
export function layerDef(type: string): AnyLayerDef {
  const def = BY_TYPE.get(type);
  if (!def) {
    throw new Error(
      `unknown layer type ${json(type)}, expected one of: ${LAYER_TYPES.join(", ")}`,
    );
  }
  return def;
}

/** The field of a layer type that is its output width (see `FieldRule.width`), if any. */
export function widthField(type: string): string | undefined {
  const fields = layerDef(type).fields as Record<string, FieldRule>;
  return Object.keys(fields).find((k) => fields[k].width);
}

/** The fields of a layer type that hold sub-layer lists (a residual block's paths), if any. */
export function layerListFields(type: string): string[] {
  const fields = layerDef(type).fields as Record<string, FieldRule>;
  return Object.keys(fields).filter((k) => fields[k].layers);
}

/**
 * Validates one layer spec: a registered `type`, no unknown fields, every required field there,
 * every value valid, and a layer that constructs from it. `where` names the layer in errors
 * (e.g. `architecture 'mine', layer 3`); returns a copy typed as {@link LayerSpec}.
 */
export function parseLayerSpec(raw: unknown, where: string): LayerSpec {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    throw new Error(
      `${where}: a layer must be an object such as {"type": "dense", "units": 64}, got ${
        json(raw)
      }`,
    );
  }
  const o = raw as Record<string, unknown>;
  const def = BY_TYPE.get(o.type as string);
  if (!def) {
    throw new Error(
      `${where}: field 'type' is ${json(o.type)}, which is not a registered layer type ` +
        `(expected one of: ${LAYER_TYPES.join(", ")})`,
    );
  }
  const at = `${where} (${def.type})`;
  const rules = def.fields as Record<string, FieldRule>;
  for (const k of Object.keys(o)) {
    if (k !== "type" && !Object.hasOwn(rules, k)) {
      const known = Object.keys(rules);
      throw new Error(
        `${at}: unknown field '${k}' (${
          known.length ? `expected: ${known.join(", ")}` : "this layer takes no other field"
        })`,
      );
    }
  }
  const copy: Record<string, unknown> = { ...o };
  for (const [k, r] of Object.entries(rules)) {
    const v = o[k];
    if (v === undefined) {
      if (!r.optional) throw new Error(`${at}: missing field '${k}' (${r.expected})`);
    } else if (!r.valid(v)) {
      throw new Error(`${at}: field '${k}' must be ${r.expected}, got ${json(v)}`);
    } else if (r.layers) {
      copy[k] = (v as unknown[]).map((s, i) => parseLayerSpec(s, `${at}, ${k} layer ${i}`));
    }
  }
  try {
    def.build(copy as { type: string }, SUB).dispose();
  } catch (e) {
    throw new Error(`${at}: ${(e as Error).message}`);
  }
  return copy as unknown as LayerSpec;
}

/** Validates a non-empty list of layer specs; errors name `where` and the layer's index. */
export function parseLayerSpecs(raw: unknown, where: string): LayerSpec[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new Error(
      `${where}: the layers must be a non-empty list of layer specs, got ${json(raw)}`,
    );
  }
  return raw.map((s, i) => parseLayerSpec(s, `${where}, layer ${i}`));
}

/** A new, unbuilt layer from a spec, validated first (errors name `where`). */
export function buildLayer(spec: LayerSpec, where = "layer"): Layer {
  const s = parseLayerSpec(spec, where);
  return layerDef(s.type).build(s, SUB);
}

/**
 * The spec of a layer of a registered class, every field given, so `buildLayer` of it makes
 * the same layer. Throws for a layer class that is not registered.
 */
export function layerSpec(layer: Layer): LayerSpec {
  const def = LAYERS.find((d) => layer.constructor === d.layer);
  if (!def) {
    throw new Error(
      `layer '${layer.name}' (${layer.kind}) is not of a registered layer class, so it has ` +
        `no spec (register it in src/layers/registered.ts)`,
    );
  }
  return def.toSpec(layer, SUB) as LayerSpec;
}

/** How container layers build their (already validated) sub-layers and read them back. */
const SUB: SubLayers = {
  build: (spec) => layerDef(spec.type).build(spec, SUB),
  spec: (layer) => layerSpec(layer),
};
