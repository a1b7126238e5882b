/**
 * The symbol table of the native library, written once for both builds
 * (`libshiftlab_cpu.so` from `cuda/host.c`, `libshiftlab_cuda.so` from `cuda/*.cu`); it mirrors
 * `cuda/shiftlab.h` line by line. Library-owned buffers are `"pointer"`; host arrays that C
 * reads or writes (shapes, hyperparameters, upload/download data) are `"buffer"`.
 *
 * @module
 */

/** The window geometry n, c, h, w, kh, kw, sh, sw, ph, pw of the window (conv, pool) functions. */
const WINDOW_PARAMS = [
  "i32",
  "i32",
  "i32",
  "i32",
  "i32",
  "i32",
  "i32",
  "i32",
  "i32",
  "i32",
] as const;

/** Every exported function of `cuda/shiftlab.h`, as a Deno FFI interface. */
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

  sl_im2col: {
    parameters: [
      "pointer",
      ...WINDOW_PARAMS,
      "pointer",
    ],
    result: "i32",
  },
  sl_conv2d_forward: {
    parameters: [
      "pointer", // x
      "pointer", // weight
      "pointer", // bias (null: none)
      ...WINDOW_PARAMS,
      "i32", // filters
      "pointer", // y
    ],
    result: "i32",
  },
  sl_conv2d_backward: {
    parameters: [
      "pointer", // x
      "pointer", // weight
      "pointer", // dy
      ...WINDOW_PARAMS,
      "i32", // filters
      "pointer", // dw (accumulated)
      "pointer", // db (accumulated; null: none)
      "pointer", // dx (null: not wanted)
    ],
    result: "i32",
  },
  sl_col2im: {
    parameters: [
      "pointer",
      ...WINDOW_PARAMS,
      "pointer",
    ],
    result: "i32",
  },
  sl_maxpool_forward: {
    parameters: [
      "pointer",
      ...WINDOW_PARAMS,
      "pointer",
      "pointer",
    ],
    result: "i32",
  },
  sl_maxpool_backward: {
    parameters: [
      "pointer",
      "pointer",
      ...WINDOW_PARAMS,
      "pointer",
    ],
    result: "i32",
  },
  sl_avgpool_forward: {
    parameters: [
      "pointer",
      ...WINDOW_PARAMS,
      "pointer",
    ],
    result: "i32",
  },
  sl_avgpool_backward: {
    parameters: [
      "pointer",
      ...WINDOW_PARAMS,
      "pointer",
    ],
    result: "i32",
  },

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
  sl_argmax: { parameters: ["pointer", "i64", "i64", "pointer"], result: "i32" },

  sl_softmax_xent: {
    parameters: ["pointer", "pointer", "i64", "i64", "pointer", "pointer"],
    result: "i32",
  },
  sl_softmax_xent_backward: {
    parameters: ["pointer", "pointer", "i64", "i64", "f32", "pointer"],
    result: "i32",
  },

  sl_batchnorm_forward: {
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
  sl_batchnorm_backward: {
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
  sl_topk_mask: { parameters: ["pointer", "i64", "i64", "i64", "pointer"], result: "i32" },

  sl_update: {
    parameters: ["i32", "pointer", "pointer", "pointer", "pointer", "i64", "buffer"],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded symbols. */
export type ShiftlabSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Status codes of `cuda/shiftlab.h`. */
export const STATUS_NAMES: Readonly<Record<number, string>> = {
  0: "SL_OK",
  1: "SL_ERR_ARG",
  2: "SL_ERR_MEMORY",
  3: "SL_ERR_DEVICE",
  4: "SL_ERR_INTERNAL",
};

/** Op codes of `cuda/shiftlab.h`, keyed by the TypeScript names. */
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
