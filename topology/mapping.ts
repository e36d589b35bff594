import type { EntityRef, Level } from '../core/types.js';

/**
 * Which tags name each topology level. For every level the first tag present (and non-empty)
 * wins, so `container: ['container_name', 'container', 'pod_name']` reads Telegraf's docker
 * input first and Kubernetes pod names last.
 */
export type TagMapping = Record<Level, readonly string[]>;

/** Defaults that fit Telegraf's system, docker and kubernetes inputs. */
export const DEFAULT_TAG_MAPPING: Readonly<TagMapping> = Object.freeze({
  host: Object.freeze(['host']),
  idc: Object.freeze(['dc', 'idc', 'zone']),
  rack: Object.freeze(['rack']),
  container: Object.freeze(['container_name', 'container', 'pod_name']),
  app: Object.freeze(['app', 'appid', 'service']),
});

/** The ids one point names, per level; absent levels are `undefined`. Reused across calls. */
export interface ResolvedEntities {
  idc?: string | undefined;
  rack?: string | undefined;
  host?: string | undefined;
  container?: string | undefined;
  app?: string | undefined;
}

/** A mapping with only some levels given takes the defaults for the others. */
export function tagMapping(partial: Partial<Record<Level, readonly string[]>> = {}): TagMapping {
  return {
    idc: partial.idc ?? DEFAULT_TAG_MAPPING.idc,
    rack: partial.rack ?? DEFAULT_TAG_MAPPING.rack,
    host: partial.host ?? DEFAULT_TAG_MAPPING.host,
    container: partial.container ?? DEFAULT_TAG_MAPPING.container,
    app: partial.app ?? DEFAULT_TAG_MAPPING.app,
  };
}

/**
 * Resolves tag sets to entity ids. Built once per mapping; `resolve` runs per point, so it
 * only reads properties and writes the caller's reusable `out` object.
 */
export class TagResolver {
  readonly mapping: TagMapping;
  private readonly idcTags: readonly string[];
  private readonly rackTags: readonly string[];
  private readonly hostTags: readonly string[];
  private readonly containerTags: readonly string[];
  private readonly appTags: readonly string[];

  constructor(mapping: Partial<Record<Level, readonly string[]>> = {}) {
    this.mapping = tagMapping(mapping);
    this.idcTags = [...this.mapping.idc];
    this.rackTags = [...this.mapping.rack];
    this.hostTags = [...this.mapping.host];
    this.containerTags = [...this.mapping.container];
    this.appTags = [...this.mapping.app];
  }

  /**
   * Fills `out` with the ids the tags name (every field is written, absent ones as
   * `undefined`). Returns false when the tags name neither a host nor a container: such a
   * point is about no entity of the topology.
   */
  resolve(tags: Record<string, string>, out: ResolvedEntities): boolean {
    out.idc = firstTag(tags, this.idcTags);
    out.rack = firstTag(tags, this.rackTags);
    out.host = firstTag(tags, this.hostTags);
    out.container = firstTag(tags, this.containerTags);
    out.app = firstTag(tags, this.appTags);
    return out.host !== undefined || out.container !== undefined;
  }

  /** The most specific entity a point is about: its container if named, else its host. */
  entityOf(tags: Record<string, string>): EntityRef | undefined {
    const container = firstTag(tags, this.containerTags);
    if (container !== undefined) return { level: 'container', id: container };
    const host = firstTag(tags, this.hostTags);
    if (host !== undefined) return { level: 'host', id: host };
    return undefined;
  }
}

function firstTag(tags: Record<string, string>, keys: readonly string[]): string | undefined {
  for (let i = 0; i < keys.length; i++) {
    const value = tags[keys[i]!];
    // An empty tag value names nothing (Telegraf drops them, other agents may not).
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

const defaultResolver = new TagResolver();

/** `TagResolver.resolve` with the default mapping. */
export function resolve(tags: Record<string, string>, out: ResolvedEntities): boolean {
  return defaultResolver.resolve(tags, out);
}

/** `TagResolver.entityOf` with the default mapping. */
export function entityOf(tags: Record<string, string>): EntityRef | undefined {
  return defaultResolver.entityOf(tags);
}
