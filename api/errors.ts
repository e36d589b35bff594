import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorBody } from './schemas.js';

/**
 * Every error answer is `{"statusCode":400,"error":"Bad Request","message":"querystring/limit
 * must be <= 1000","field":"limit"}`: the field at fault and what is wrong with it. 5xx only for
 * real bugs (logged with the request id); everything a client can send maps to a 4xx.
 */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly statusCode: number,
    readonly field: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function errorBody(statusCode: number, field: string, message: string): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, field };
}

interface AjvError {
  keyword: string;
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** `/entity/level` -> `entity.level`; required/additional properties name the property itself. */
export function validationField(e: AjvError, context: string): string {
  const path = (e.instancePath ?? '')
    .split('/')
    .filter((p) => p !== '')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const extra =
    e.keyword === 'required'
      ? e.params?.missingProperty
      : e.keyword === 'additionalProperties'
        ? e.params?.additionalProperty
        : undefined;
  if (typeof extra === 'string') path.push(extra);
  return path.length > 0 ? path.join('.') : context;
}

export function validationMessage(e: AjvError, context: string): string {
  const where = context + (e.instancePath ?? '');
  let message = e.message ?? 'is invalid';
  if (e.keyword === 'additionalProperties' && typeof e.params?.additionalProperty === 'string') {
    message = `must NOT have the unknown property "${e.params.additionalProperty}"`;
  } else if (e.keyword === 'enum' && Array.isArray(e.params?.allowedValues)) {
    message = `must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
  }
  return `${where} ${message}`;
}

/** Fastify's own 4xx codes: which part of the request they are about. */
const FRAMEWORK_FIELDS: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'content-type',
  FST_ERR_CTP_INVALID_TYPE: 'content-type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'body',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'content-length',
  FST_ERR_CTP_EMPTY_TYPE: 'content-type',
  FST_ERR_BAD_URL: 'url',
  FST_ERR_ASYNC_CONSTRAINT: 'url',
  FST_ERR_CTP_INSTANCE_ALREADY_STARTED: 'body',
};

export function toErrorBody(error: FastifyError | ApiError | Error, request: FastifyRequest): ErrorBody {
  if (error instanceof ApiError) return errorBody(error.statusCode, error.field, error.message);
  const fe = error as FastifyError & { validation?: AjvError[]; validationContext?: string };
  if (Array.isArray(fe.validation) && fe.validation.length > 0) {
    const first = pickValidationError(fe.validation);
    const context = fe.validationContext ?? 'request';
    return errorBody(400, validationField(first, context), validationMessage(first, context));
  }
  const status = fe.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const field =
      (fe.code !== undefined && Object.hasOwn(FRAMEWORK_FIELDS, fe.code)
        ? FRAMEWORK_FIELDS[fe.code]
        : undefined) ?? (error instanceof SyntaxError ? 'body' : 'request');
    let message = fe.message;
    if (field === 'body' && error instanceof SyntaxError) message = `body is not valid JSON: ${fe.message}`;
    if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      message = `${fe.message}; send application/json (POST /api/v1/alerts also takes application/x-ndjson)`;
    }
    return errorBody(status, field, message);
  }
  return errorBody(500, 'server', `internal error (request ${request.id}); the server log has the details`);
}

/** anyOf produces one error per branch plus a summary; the most specific one helps most. */
function pickValidationError(errors: AjvError[]): AjvError {
  let best = errors[0]!;
  for (const e of errors) {
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') continue;
    if ((e.instancePath ?? '').length > (best.instancePath ?? '').length || best.keyword === 'anyOf')
      best = e;
  }
  return best;
}

export async function errorHandler(
  error: FastifyError | ApiError,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<ErrorBody> {
  const body = toErrorBody(error, request);
  if (body.statusCode >= 500) request.log.error({ err: error }, 'request failed');
  else
    request.log.info(
      { statusCode: body.statusCode, field: body.field, reason: body.message },
      'request refused',
    );
  if (error instanceof ApiError) for (const [k, v] of Object.entries(error.headers)) reply.header(k, v);
  const retryAfter = (error as { headers?: Record<string, unknown> }).headers?.['retry-after'];
  if (body.statusCode === 429 && retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  reply.code(body.statusCode);
  return body;
}

/**
 * Requests Node's HTTP parser refuses before fastify sees them (headers too large, malformed
 * request line, timeouts): the same error shape, written on the socket.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: import('node:net').Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, field, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers', "request headers exceed the server's limit"]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request', 'the request did not arrive in time']
        : [400, 'request', `malformed HTTP request (${err.code ?? 'parse error'})`];
  const body = JSON.stringify(errorBody(status, field, message));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}
