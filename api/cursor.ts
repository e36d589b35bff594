import { ApiError } from './errors.js';

/**
 * Opaque page cursors: the sort key of the last item served (time, then id), base64url JSON.
 * Pages continue strictly after it, so items arriving meanwhile neither repeat nor shift pages.
 */
export interface CursorKey {
  /** Sort time (ms); lists are newest first. */
  t: number;
  id: string;
}

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify([key.t, key.id]), 'utf8').toString('base64url');
}

/** Throws a 400 naming `cursor` for anything encodeCursor did not make. */
export function decodeCursor(cursor: string): CursorKey {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    v = undefined;
  }
  if (
    !Array.isArray(v) ||
    v.length !== 2 ||
    typeof v[0] !== 'number' ||
    !Number.isFinite(v[0]) ||
    typeof v[1] !== 'string'
  ) {
    throw new ApiError(
      400,
      'cursor',
      'cursor is not one this API handed out (use nextCursor of the previous page)',
    );
  }
  return { t: v[0], id: v[1] };
}

/** Whether an item sorted (time desc, id asc) comes after the cursor. */
export function afterCursor(t: number, id: string, c: CursorKey): boolean {
  return t < c.t || (t === c.t && id > c.id);
}

/**
 * One page of a list sorted newest first (time desc, id asc): the items after the cursor, at
 * most `limit`, and the cursor of the next page when more remain.
 */
export function page<T>(
  sorted: readonly T[],
  key: (item: T) => CursorKey,
  limit: number,
  cursor: string | undefined,
): { items: T[]; nextCursor?: string } {
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  const items: T[] = [];
  let i = 0;
  if (after !== undefined) {
    while (i < sorted.length) {
      const k = key(sorted[i]!);
      if (afterCursor(k.t, k.id, after)) break;
      i++;
    }
  }
  for (; i < sorted.length && items.length < limit; i++) items.push(sorted[i]!);
  const out: { items: T[]; nextCursor?: string } = { items };
  if (i < sorted.length && items.length > 0) out.nextCursor = encodeCursor(key(items[items.length - 1]!));
  return out;
}
