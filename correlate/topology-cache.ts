import type { TopologyView } from '../core/types.js';
import { calleesOf, callersOf, type EntitySite, hostSite } from './entities.js';

/**
 * Topology answers every election asks again (the apps an app calls, the containers behind an
 * app's callers, hosts per IDC, hosts per attribute value), kept for `ttlMs` of event time:
 * with a steady trickle of lone alerts there is an election every few seconds, and walking the
 * call graph each time would cost more than the election itself. A topology change shows within
 * one TTL.
 */
export class TopologyCache {
  private since = Number.NEGATIVE_INFINITY;
  private readonly callees = new Map<string, readonly string[]>();
  private readonly upstreamSizes = new Map<string, number>();
  private readonly idcHosts = new Map<string, number>();
  private readonly attributeSizes = new Map<string, Map<string, number>>();
  private readonly hosts = new Map<string, EntitySite>();

  constructor(
    readonly topology: TopologyView,
    private readonly depth: number,
    private readonly ttlMs = 5 * 60_000,
  ) {}

  /** Forgets everything once the TTL has passed (or time went backwards). */
  refresh(now: number): void {
    if (now - this.since < this.ttlMs && now >= this.since) return;
    this.since = now;
    this.callees.clear();
    this.upstreamSizes.clear();
    this.idcHosts.clear();
    this.attributeSizes.clear();
    this.hosts.clear();
  }

  /** The host's rack, IDC and attributes (labels fill in when the topology does not know them). */
  hostPlace(host: string, labels: Record<string, string>): EntitySite {
    let p = this.hosts.get(host);
    if (p === undefined) {
      p = hostSite(this.topology, host, labels);
      // A host the topology does not know is placed from one alert's labels: not worth keeping.
      if (this.topology.has({ level: 'host', id: host })) this.hosts.set(host, p);
    }
    return p;
  }

  /** Apps reached from `app` along calls edges, up to the configured depth. */
  calleesOf(app: string): readonly string[] {
    let list = this.callees.get(app);
    if (list === undefined) {
      list = calleesOf(this.topology, app, this.depth);
      this.callees.set(app, list);
    }
    return list;
  }

  /** Containers of the app and of the apps calling it (up to the configured depth). */
  upstreamSize(app: string): number {
    let n = this.upstreamSizes.get(app);
    if (n === undefined) {
      const topo = this.topology;
      n = topo.childCount({ level: 'app', id: app });
      for (const caller of callersOf(topo, app, this.depth))
        n += topo.childCount({ level: 'app', id: caller });
      this.upstreamSizes.set(app, n);
    }
    return n;
  }

  idcHostCount(idc: string): number {
    let n = this.idcHosts.get(idc);
    if (n === undefined) {
      const topo = this.topology;
      n = 0;
      for (const child of topo.children({ level: 'idc', id: idc })) {
        n += child.level === 'rack' ? topo.childCount(child) : child.level === 'host' ? 1 : 0;
      }
      this.idcHosts.set(idc, n);
    }
    return n;
  }

  /** Hosts whose attribute `key` is `value` (0 when the view keeps no attribute groups). */
  attributeGroupSize(key: string, value: string): number {
    let sizes = this.attributeSizes.get(key);
    if (sizes === undefined) {
      sizes = this.topology.attributeValues?.('host', key) ?? new Map<string, number>();
      this.attributeSizes.set(key, sizes);
    }
    return sizes.get(value) ?? 0;
  }
}
