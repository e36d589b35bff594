import type { preValidationHookHandler, RouteOptions } from 'fastify';
import { ApiError } from './errors.js';

/**
 * Integer query parameters written as plain decimal digits, checked before validation.
 *
 * ajv's type coercion turns any string that JavaScript reads as a whole number into one:
 * `Infinity`, `1e309`, `0x10`, `1e3`, ` 5`. Worse, it then skips `maximum` for a number that is
 * not finite, so `limit=Infinity` passed a `maximum: 1000` schema and asked for every item at
 * once. This hook (added to every route whose querystring schema has integer properties) refuses
 * anything but an optional minus and at most 15 digits, naming the parameter; what passes
 * coerces to a safe integer and meets the schema's own bounds as written.
 */
const DECIMAL = /^-?\d{1,15}$/;

/** Names of the integer properties of a route's querystring schema. */
export function integerQueryParameters(route: RouteOptions): string[] {
  const schema = route.schema?.querystring as { properties?: Record<string, unknown> } | undefined;
  const properties = schema?.properties;
  if (properties === undefined || properties === null || typeof properties !== 'object') return [];
  const out: string[] = [];
  for (const name of Object.keys(properties)) {
    const p = properties[name] as { type?: unknown } | undefined;
    if (p !== undefined && p !== null && p.type === 'integer') out.push(name);
  }
  return out;
}

/** A preValidation hook refusing non-decimal values of these query parameters (400 naming one). */
export function strictIntegerQuery(names: readonly string[]): preValidationHookHandler {
  return async (request) => {
    const query = request.query as Record<string, unknown> | undefined;
    if (query === undefined || query === null) return;
    for (const name of names) {
      if (!Object.hasOwn(query, name)) continue;
      const value = query[name];
      const values = Array.isArray(value) ? value : [value];
      for (const v of values) {
        if (typeof v === 'string' && DECIMAL.test(v)) continue;
        const shown =
          typeof v === 'string' ? JSON.stringify(v.length > 40 ? v.slice(0, 39) + '…' : v) : String(v);
        throw new ApiError(
          400,
          name,
          `querystring/${name} must be an integer written in decimal digits (got ${shown})`,
        );
      }
    }
  };
}

/** onRoute: adds the check to routes that take integer query parameters. */
export function addStrictIntegerQuery(route: RouteOptions): void {
  const names = integerQueryParameters(route);
  if (names.length === 0) return;
  const hook = strictIntegerQuery(names);
  const existing = route.preValidation;
  route.preValidation =
    existing === undefined ? [hook] : Array.isArray(existing) ? [...existing, hook] : [existing, hook];
}
