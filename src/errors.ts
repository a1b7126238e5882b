/**
 * The error kind that separates "asked for something that cannot be done as asked" from a
 * failure while doing it. The command-line tools exit 2 on a {@link UsageError} and 1 on any
 * other error.
 *
 * @module
 */

/**
 * A request that cannot be carried out as asked, for the caller to fix: a bad option value, a
 * subset larger than the dataset, a backend asked for by name that is not available here. The
 * message is one line saying what was wrong and what is expected.
 */
export class UsageError extends Error {
  override name = "UsageError";
}
