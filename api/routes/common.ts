import type { FastifyRequest } from 'fastify';
import { type EntityRef, isLevel } from '../../core/types.js';
import { parseTime } from '../../correlate/alerts.js';
import { ApiError } from '../errors.js';
import type { ApiBackend } from '../ports.js';

/** What every route plugin gets. */
export interface RouteDeps {
  backend: ApiBackend;
  /** Wall clock (operator actions, silences). */
  now: () => number;
}

/** Largest time a Date can show (ms); query times beyond are refused as out of range. */
export const MAX_DATE_MS = 8.64e15;

/** A query-string time (ISO-8601 or epoch ms); 400 naming the field otherwise. */
export function queryTime(value: string | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  const asNumber = /^\d+$/.test(value) ? Number(value) : value;
  const t = parseTime(asNumber);
  if (typeof t === 'string' || Math.abs(t) > MAX_DATE_MS) {
    throw new ApiError(
      400,
      field,
      `querystring/${field} must be an ISO-8601 time or epoch milliseconds (got "${value}")`,
    );
  }
  return t;
}

/** `host:h-17` -> {level: 'host', id: 'h-17'}. */
export function entityParam(value: string | undefined, field: string): EntityRef | undefined {
  if (value === undefined) return undefined;
  const colon = value.indexOf(':');
  const level = value.slice(0, colon);
  const id = value.slice(colon + 1);
  if (colon < 0 || !isLevel(level) || id === '') {
    throw new ApiError(400, field, `querystring/${field} must be level:id, e.g. host:h-17 (got "${value}")`);
  }
  return { level, id };
}

export function actor(request: FastifyRequest, given: string | undefined): string {
  const by = given?.trim();
  return by !== undefined && by !== '' ? by : (request.principal?.name ?? 'anonymous');
}
