/**
 * The symbol table of the native library, written once for both builds
 * (`libshiftlab_cpu.so` from `cuda/cpu/*.c`, `libshiftlab_cuda.so` from `cuda/gpu/*.cu`); it
 * mirrors `cuda/include/shiftlab.h` line by line. Library-owned buffers are `"pointer"`; host arrays that C
 * reads or writes (shapes, the window and optimizer descriptors, upload/download data) are
 * `"buffer"`.
 *
 * @module
 */

/**
 * Field order of `sl_window`, passed by pointer (`"buffer"`) as an Int32Array of 10; the
 * `Window2d` keys of `src/backend.ts`.
 */
export const WINDOW_FIELDS = ["n", "c", "h", "w", "kh", "kw", "sh", "sw", "ph", "pw"] as const;
/** Field order of `sl_optim_params`, passed by pointer as a Float64Array of 7. */
export const OPTIM_FIELDS = [
  "lr",
  "momentum",
  "beta1",
  "beta2",
  "eps",
  "weight_decay",
  "step",
] as const;

/** Every exported function of `cuda/include/shiftlab.h`, as a Deno FFI interface. */
export const SYMBOLS = {
  sl_last_error: { parameters: [], result: "pointer" },
  sl_device_info: { parameters: ["buffer", "i32"], result: "i32" },
  sl_init: { parameters: [], result: "i32" },
  sl_build_info: { parameters: [], result: "pointer" },

  sl_alloc: { parameters: ["i64", "buffer"], result: "i32" },
  sl_alloc_empty: { parameters: ["i64", "buffer"], result: "i32" },
  sl_free: { parameters: ["pointer"], result: "i32" },
  sl_upload: { parameters: ["pointer", "i64", "buffer", "i64"], result: "i32" },
  sl_download: { parameters: ["pointer", "i64", "buffer", "i64"], result: "i32" },
  sl_fill: { parameters: ["pointer", "i64", "f32"], result: "i32" },
  sl_copy: { parameters: ["pointer", "i64", "pointer", "i64", "i64"], result: "i32" },
  sl_synchronize: { parameters: [], result: "i32" },
  sl_memory_in_use: { parameters: ["buffer"], result: "i32" },

  sl_gemm: {
    parameters: [
      "i32", // trans_a
      "i32", // trans_b
      "i64", // m
      "i64", // n
      "i64", // k
      "f32", // alpha
      "pointer", // a
      "i64", // a_off
      "pointer", // b
      "i64", // b_off
      "f32", // beta
      "pointer", // c
      "i64", // c_off
    ],
    result: "i32",
  },
  sl_swap_axes01: { parameters: ["pointer", "i64", "i64", "i64", "pointer"], result: "i32" },
  sl_im2col: { parameters: ["pointer", "buffer", "pointer"], result: "i32" },
  sl_col2im: { parameters: ["pointer", "buffer", "pointer"], result: "i32" },
  sl_conv2d_columns: { parameters: ["buffer", "i32", "buffer"], result: "i32" },
  sl_conv2d_forward: {
    parameters: [
      "pointer", // x
      "pointer", // weight
      "pointer", // bias (null: none)
      "buffer", // window
      "i32", // filters
      "pointer", // y
      "pointer", // column cache (null: none)
    ],
    result: "i32",
  },
  sl_conv2d_backward: {
    parameters: [
      "pointer", // x
      "pointer", // weight
      "pointer", // dy
      "buffer", // window
      "i32", // filters
      "pointer", // dw (accumulated)
      "pointer", // db (accumulated; null: none)
      "pointer", // dx (null: not wanted)
      "pointer", // the forward's column cache (null: none)
    ],
    result: "i32",
  },

  sl_max_pool_forward: { parameters: ["pointer", "buffer", "pointer", "pointer"], result: "i32" },
  sl_max_pool_backward: {
    parameters: ["pointer", "pointer", "buffer", "pointer"],
    result: "i32",
  },
  sl_avg_pool_forward: { parameters: ["pointer", "buffer", "pointer"], result: "i32" },
  sl_avg_pool_backward: { parameters: ["pointer", "buffer", "pointer"], result: "i32" },

  sl_binary: {
    parameters: ["i32", "pointer", "buffer", "pointer", "buffer", "pointer", "buffer", "i32"],
    result: "i32",
  },
  sl_unary: { parameters: ["i32", "pointer", "pointer", "i64", "f32"], result: "i32" },
  sl_unary_backward: {
    parameters: ["i32", "pointer", "pointer", "pointer", "pointer", "i64", "f32"],
    result: "i32",
  },
  sl_axpby: { parameters: ["f32", "pointer", "f32", "pointer", "pointer", "i64"], result: "i32" },

  sl_reduce: { parameters: ["i32", "pointer", "buffer", "i32", "i32", "pointer"], result: "i32" },
  sl_scale_backward: {
    parameters: ["pointer", "pointer", "buffer", "i32", "pointer", "buffer", "pointer", "pointer"],
    result: "i32",
  },
  sl_argmax: { parameters: ["pointer", "i64", "i64", "pointer"], result: "i32" },
  sl_topk_mask: { parameters: ["pointer", "i64", "i64", "i64", "pointer"], result: "i32" },

  sl_softmax_cross_entropy: {
    parameters: ["pointer", "pointer", "i64", "i64", "pointer", "pointer"],
    result: "i32",
  },
  sl_softmax_cross_entropy_backward: {
    parameters: ["pointer", "pointer", "i64", "i64", "f32", "pointer"],
    result: "i32",
  },

  sl_batch_norm_forward: {
    parameters: [
      "pointer", // x
      "i64", // outer
      "i64", // c
      "i64", // inner
      "pointer", // gamma
      "pointer", // beta
      "pointer", // running_mean
      "pointer", // running_var
      "i32", // training
      "f32", // momentum
      "f32", // eps
      "pointer", // y
      "pointer", // mean
      "pointer", // inv_std
    ],
    result: "i32",
  },
  sl_batch_norm_backward: {
    parameters: [
      "pointer", // x
      "pointer", // dy
      "i64", // outer
      "i64", // c
      "i64", // inner
      "pointer", // gamma
      "pointer", // mean
      "pointer", // inv_std
      "pointer", // dx
      "pointer", // dgamma
      "pointer", // dbeta
    ],
    result: "i32",
  },

  sl_dropout_mask: {
    parameters: ["pointer", "i64", "i64", "i64", "f64", "i32", "u32", "u32", "u64"],
    result: "i32",
  },

  sl_update: {
    parameters: [
      "i32", // rule
      "buffer", // sl_optim_params
      "pointer", // param
      "pointer", // grad
      "pointer", // s0 (velocity or m; null when unused)
      "pointer", // s1 (v; null when unused)
      "i64", // n
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded symbols. */
export type ShiftlabSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Status codes of `cuda/include/shiftlab.h`. */
export const STATUS_NAMES: Readonly<Record<number, string>> = {
  0: "SL_OK",
  1: "SL_ERR_ARG",
  2: "SL_ERR_MEMORY",
  3: "SL_ERR_DEVICE",
  4: "SL_ERR_INTERNAL",
};

/** Op codes of `cuda/include/shiftlab.h`, keyed by the TypeScript names. */
export const BINARY_CODES = { add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5 } as const;
/** Unary op codes. */
export const UNARY_CODES = {
  relu: 0,
  leaky_relu: 1,
  sigmoid: 2,
  tanh: 3,
  softplus: 4,
  exp: 5,
  log: 6,
  sqrt: 7,
  square: 8,
  abs: 9,
  neg: 10,
  sign: 11,
  scale: 12,
  add_scalar: 13,
  pow: 14,
  reciprocal: 15,
} as const;
/** Reduction op codes. */
export const REDUCE_CODES = { sum: 0, mean: 1, max: 2 } as const;
/** Optimizer rule codes. */
export const RULE_CODES = { sgd: 0, momentum: 1, nesterov: 2, adam: 3, adamw: 4 } as const;
