import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { IncidentEvent } from '../core/types.js';
import { verifyWebhookSignature, WEBHOOK_DELIVERY_HEADER, type WebhookBody } from './sinks/webhook.js';

/**
 * Incident events for tests and benchmarks: the JD.com case (one app's containers on 50 hosts,
 * 5,100 alerts absorbed), with version/event/status following each other.
 */
export function incidentEvent(overrides: Partial<IncidentEvent> = {}): IncidentEvent {
  const version = overrides.version ?? 1;
  const base: IncidentEvent = {
    event: version === 1 ? 'opened' : 'updated',
    id: 'inc-pay-06da',
    version,
    status: 'open',
    severity: 'critical',
    rootCause: { level: 'app', id: 'pay-06da', kind: 'app' },
    candidates: [
      {
        entity: { level: 'app', id: 'pay-06da', kind: 'app' },
        kind: 'app',
        score: 0.93,
        evidence: {
          coverage: 0.98,
          hosts: 50,
          containers: 50,
          firstAlert: 'container c-4ad659cdd55f',
          idc: 'dc1',
        },
      },
      {
        entity: { level: 'host', id: 'h-017', kind: 'host' },
        kind: 'host',
        score: 0.21,
        evidence: { coverage: 0.02 },
      },
    ],
    absorbed: { total: 5100, byLevel: { container: 5050, host: 50 } },
    startsAt: Date.UTC(2024, 2, 1, 10, 0, 0, 777),
    at: Date.UTC(2024, 2, 1, 10, 0, 30) + (version - 1) * 60_000,
  };
  const event = { ...base, ...overrides };
  if (event.event === 'resolved' && overrides.status === undefined) event.status = 'resolved';
  if (event.status === 'resolved' && event.endsAt === undefined) event.endsAt = event.at;
  return event;
}

/** opened (v1), updated (v2..n-1), resolved (vn) for one incident. */
export function incidentLifecycle(
  id: string,
  versions: number,
  overrides: Partial<IncidentEvent> = {},
): IncidentEvent[] {
  const out: IncidentEvent[] = [];
  for (let v = 1; v <= versions; v++) {
    const event = v === 1 ? 'opened' : v === versions ? 'resolved' : 'updated';
    out.push(incidentEvent({ ...overrides, id, version: v, event }));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// A real HTTP receiver for the generic webhook, on loopback, that can fail on purpose.

export type ReceiverAnswer = 'ok' | 'fail' | 'hang' | 'hold';

export interface ReceivedDelivery {
  key: string;
  attempt: number;
  body: WebhookBody;
  signatureOk: boolean;
  at: number;
}

export class WebhookReceiver {
  url = '';
  /** Every request that arrived, answered or not. */
  readonly arrivals: Array<{ key: string; attempt: number; at: number }> = [];
  /** Requests answered 200 to a client that was still connected. */
  readonly accepted: ReceivedDelivery[] = [];
  /** Requests whose client went away before the answer (not acknowledged). */
  dropped = 0;
  /** Decides how to answer the n-th arrival (0-based). */
  answer: (n: number) => ReceiverAnswer = () => 'ok';
  /** Delay before a 200. */
  okDelayMs = 0;
  hangMs = 3000;
  private readonly held = new Set<ServerResponse>();
  private server: Server | undefined;

  constructor(private readonly secret: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 1000;
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  get heldCount(): number {
    return this.held.size;
  }

  /** Held requests whose client is still connected. */
  get heldConnected(): number {
    let n = 0;
    for (const res of this.held) if (!res.req.socket.destroyed) n++;
    return n;
  }

  lastAcceptedAt(): number {
    return this.accepted.at(-1)?.at ?? 0;
  }

  /** Answers every held request 503 (those whose client is gone count as dropped). */
  releaseHeld(): void {
    for (const res of this.held) this.reply(res, 503);
    this.held.clear();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const key = String(req.headers[WEBHOOK_DELIVERY_HEADER] ?? '');
      const attempt = Number(req.headers['x-converge-attempt'] ?? 0);
      const n = this.arrivals.length;
      this.arrivals.push({ key, attempt, at: Date.now() });
      const how = this.answer(n);
      if (how === 'fail') return void this.reply(res, 500);
      if (how === 'hang') return void setTimeout(() => this.reply(res, 503), this.hangMs);
      if (how === 'hold') return void this.held.add(res);
      const accept = () => {
        if (req.socket.destroyed || res.writableEnded) {
          this.dropped++;
          return;
        }
        const signatureOk = verifyWebhookSignature(this.secret, req.headers, body).ok;
        res.on('finish', () => {
          this.accepted.push({
            key,
            attempt,
            body: JSON.parse(body) as WebhookBody,
            signatureOk,
            at: Date.now(),
          });
        });
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      };
      if (this.okDelayMs > 0) setTimeout(accept, this.okDelayMs);
      else accept();
    });
  }

  private reply(res: ServerResponse, status: number): void {
    if (res.req.socket.destroyed || res.writableEnded) {
      this.dropped++;
      return;
    }
    res.writeHead(status).end('unavailable');
  }

  async close(): Promise<void> {
    this.releaseHeld();
    this.server?.closeAllConnections();
    await new Promise((r) => (this.server ? this.server.close(r) : r(undefined)));
  }
}

// ---------------------------------------------------------------------------------------------
// A stand-in for the chat and paging providers, on loopback: the first path segment names the
// provider (`/slack`, `/dingtalk?access_token=...`), each gets its documented success answer.

const PROVIDER_OK: Record<string, [number, string]> = {
  slack: [200, 'ok'],
  feishu: [200, '{"code":0,"msg":"success"}'],
  pagerduty: [202, '{"status":"success"}'],
};

export class ProviderReceiver {
  url = '';
  /** Every request, in arrival order: the provider (first path segment) and the parsed JSON body. */
  // biome-ignore lint/suspicious/noExplicitAny: provider payloads, each test reads its fields
  readonly received: Array<{ provider: string; body: any }> = [];
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let text = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        text += c;
      });
      req.on('end', () => {
        const provider = (req.url ?? '').split(/[/?]/)[1] ?? '';
        this.received.push({ provider, body: JSON.parse(text) });
        const [status, answer] = Object.hasOwn(PROVIDER_OK, provider)
          ? PROVIDER_OK[provider]!
          : [200, '{"errcode":0,"errmsg":"ok"}'];
        res.writeHead(status).end(answer);
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The last body a provider received. */
  // biome-ignore lint/suspicious/noExplicitAny: as above
  last(provider: string): any {
    return this.received.findLast((r) => r.provider === provider)?.body;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => (this.server ? this.server.close(r) : r(undefined)));
  }
}
