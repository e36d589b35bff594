/** A mistake in how the command was called or in a file it was given: exit code 2, no stack. */
export class UsageError extends Error {
  override name = 'UsageError';
}
