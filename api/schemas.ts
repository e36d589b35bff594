import { type Static, type TSchema, Type } from 'typebox';
import { MATCHER_SYNTAX } from '../core/matchers.js';
import { LEVELS } from '../core/types.js';

/**
 * The JSON schemas of every request and response: fastify validates requests and serializes
 * responses with them, TypeScript infers the handlers' types from them (TypeBox), and
 * @fastify/swagger turns them into the OpenAPI document. Kept to what OpenAPI 3.0 can say
 * (enum rather than const, no patternProperties, no null), so every tool reads the document.
 */

function StringEnum<const T extends readonly string[]>(values: T, options: { description?: string } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

function StringMap(description?: string) {
  return Type.Unsafe<Record<string, string>>({
    type: 'object',
    additionalProperties: { type: 'string' },
    ...(description ? { description } : {}),
  });
}

function IntegerMap(description?: string) {
  return Type.Unsafe<Record<string, number>>({
    type: 'object',
    additionalProperties: { type: 'integer' },
    ...(description ? { description } : {}),
  });
}

/** Event or wall time as ISO-8601 text (output). */
const Time = (description?: string) =>
  Type.String({ format: 'date-time', ...(description ? { description } : {}) });

/** Time in a query string: ISO-8601 or epoch milliseconds. */
export const TIME_PATTERN = '^(\\d{4}-\\d{2}-\\d{2}([T ][0-9:.]+(Z|[+-]\\d{2}:?\\d{2})?)?|\\d{1,15})$';
const QueryTime = (description: string) => Type.String({ pattern: TIME_PATTERN, maxLength: 40, description });

export const LevelSchema = StringEnum(LEVELS as readonly ['idc', 'rack', 'host', 'container', 'app']);
export const CauseLevelSchema = StringEnum(['idc', 'rack', 'host', 'container', 'app', 'attribute'] as const);
export const CAUSE_KINDS = [
  'idc',
  'rack',
  'host',
  'container',
  'app',
  'noisy-neighbour',
  'attribute',
  'upstream',
  'self',
] as const;
export const CauseKindSchema = StringEnum(CAUSE_KINDS);
export const SeveritySchema = StringEnum(['critical', 'warning', 'info'] as const);
export const HealthStatusSchema = StringEnum(['healthy', 'warning', 'fatal'] as const);

const Id = (description?: string) =>
  Type.String({ minLength: 1, maxLength: 512, ...(description ? { description } : {}) });

export const EntityRefSchema = Type.Object({ level: LevelSchema, id: Id() }, { additionalProperties: false });
export const CauseRefSchema = Type.Object(
  { level: CauseLevelSchema, id: Id(), kind: CauseKindSchema },
  { additionalProperties: false },
);

/** `level:id`, e.g. `host:h-17`. */
export const ENTITY_PATTERN = '^(idc|rack|host|container|app):.+$';
const EntityParam = Type.String({
  pattern: ENTITY_PATTERN,
  maxLength: 520,
  description: 'An entity as level:id, e.g. host:h-17',
});

const Limit = (def: number, max: number, description: string) =>
  Type.Integer({ minimum: 1, maximum: max, default: def, description });
const Cursor = Type.String({
  minLength: 1,
  maxLength: 1024,
  description: 'Opaque cursor from the previous page (nextCursor)',
});

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

export const ErrorSchema = Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String({ description: 'HTTP reason phrase' }),
    message: Type.String({ description: 'What was wrong, naming the field' }),
    field: Type.String({ description: 'The field (or header, or part of the request) at fault' }),
  },
  { additionalProperties: false },
);
export type ErrorBody = Static<typeof ErrorSchema>;

/** Every route answers errors with ErrorSchema. */
export function withErrors<R extends Record<number, TSchema>>(ok: R) {
  return { ...ok, '4xx': ErrorSchema, '5xx': ErrorSchema };
}

// ---------------------------------------------------------------------------------------------
// Incidents
// ---------------------------------------------------------------------------------------------

export const CandidateSchema = Type.Object(
  {
    entity: CauseRefSchema,
    kind: CauseKindSchema,
    score: Type.Number(),
    rank: Type.Integer({ minimum: 1 }),
    evidence: Type.Unsafe<Record<string, unknown>>({
      type: 'object',
      additionalProperties: true,
      description: 'Why: explained alerts, coverage, time order, surprise versus chance',
    }),
  },
  { additionalProperties: false },
);

export const OperatorActionSchema = Type.Object(
  {
    by: Type.String(),
    comment: Type.String(),
    at: Time('Wall-clock time of the action'),
    version: Type.Integer({ description: 'Incident version the action saw' }),
  },
  { additionalProperties: false },
);

export const AbsorbedSchema = Type.Object(
  {
    total: Type.Integer({ minimum: 0 }),
    byLevel: IntegerMap(
      'Absorbed alerts by their place relative to the root cause (container, host, neighbour ...)',
    ),
  },
  { additionalProperties: false },
);

const incidentFields = {
  id: Type.String(),
  version: Type.Integer({ minimum: 0 }),
  status: StringEnum(['open', 'resolved'] as const),
  severity: SeveritySchema,
  rootCause: CauseRefSchema,
  candidates: Type.Array(CandidateSchema),
  absorbed: AbsorbedSchema,
  firing: Type.Integer({ minimum: 0, description: 'Absorbed alerts still firing' }),
  startsAt: Time('Event time of the first absorbed alert'),
  openedAt: Time('Event time the incident was opened'),
  endsAt: Type.Optional(Time('Event time it ended')),
  mergedInto: Type.Optional(Type.String({ description: 'The incident this one was folded into' })),
  acknowledged: Type.Optional(OperatorActionSchema),
  resolvedBy: Type.Optional(OperatorActionSchema),
};

export const IncidentSummarySchema = Type.Object(incidentFields, { additionalProperties: false });
export type IncidentSummaryJson = Static<typeof IncidentSummarySchema>;

export const AlertSummarySchema = Type.Object(
  {
    id: Type.String(),
    rule: Type.String(),
    severity: SeveritySchema,
    state: StringEnum(['firing', 'resolved'] as const),
    predicted: Type.Boolean(),
    startsAt: Time(),
    endsAt: Type.Optional(Time()),
  },
  { additionalProperties: false },
);

const TREE_ROLES = ['idc', 'rack', 'host', 'container', 'app', 'neighbour', 'context'] as const;
const nodeFields = {
  entity: EntityRefSchema,
  role: StringEnum(TREE_ROLES, {
    description: 'Place relative to the root cause; context: an ancestor without alerts',
  }),
  alertCount: Type.Integer({ minimum: 0 }),
  alerts: Type.Array(AlertSummarySchema),
  childCount: Type.Integer({ minimum: 0 }),
  omittedChildren: Type.Integer({ minimum: 0, description: 'Children left out by childrenPerNode' }),
};

/** The hierarchy is idc > rack > host > container: four levels of nodes. */
function treeNode(depth: number): TSchema {
  if (depth === 1) return Type.Object(nodeFields, { additionalProperties: false });
  return Type.Object(
    { ...nodeFields, children: Type.Optional(Type.Array(treeNode(depth - 1))) },
    { additionalProperties: false },
  );
}
export const TREE_DEPTH = 4;
export interface TreeNodeJson {
  entity: { level: Static<typeof LevelSchema>; id: string };
  role: (typeof TREE_ROLES)[number];
  alertCount: number;
  alerts: Static<typeof AlertSummarySchema>[];
  childCount: number;
  omittedChildren: number;
  children?: TreeNodeJson[];
}
const TreeNodeSchema = Type.Unsafe<TreeNodeJson>(treeNode(TREE_DEPTH));

export const TimelineEntrySchema = Type.Object(
  {
    at: Time(),
    kind: StringEnum([
      'opened',
      'updated',
      'absorbed',
      'merged',
      'severity',
      'all-resolved',
      'refired',
      'resolved',
      'acknowledged',
      'operator-resolved',
      'feedback',
    ] as const),
    detail: Type.String(),
  },
  { additionalProperties: false },
);

export const ActualCauseSchema = Type.Object(
  { level: CauseLevelSchema, id: Id(), kind: Type.Optional(CauseKindSchema) },
  { additionalProperties: false },
);

export const FeedbackSchema = Type.Object(
  {
    id: Type.String(),
    incidentId: Type.String(),
    incidentVersion: Type.Integer(),
    verdict: StringEnum(['correct', 'incorrect'] as const),
    rootCause: CauseRefSchema,
    candidates: Type.Array(
      Type.Object({ entity: CauseRefSchema, score: Type.Number() }, { additionalProperties: false }),
    ),
    actualCause: Type.Optional(ActualCauseSchema),
    comment: Type.String(),
    by: Type.String(),
    at: Time(),
  },
  { additionalProperties: false },
);
export type FeedbackJson = Static<typeof FeedbackSchema>;

export const IncidentDetailSchema = Type.Object(
  {
    ...incidentFields,
    tree: Type.Array(TreeNodeSchema, { description: 'Absorbed alerts placed in the hierarchy' }),
    omittedRoots: Type.Integer({ minimum: 0 }),
    timeline: Type.Array(TimelineEntrySchema),
    feedback: Type.Array(FeedbackSchema),
  },
  { additionalProperties: false },
);
export type IncidentDetailJson = Static<typeof IncidentDetailSchema>;

export const IncidentListQuery = Type.Object(
  {
    status: Type.Optional(StringEnum(['open', 'resolved'] as const)),
    severity: Type.Optional(SeveritySchema),
    level: Type.Optional(CauseLevelSchema),
    kind: Type.Optional(CauseKindSchema),
    entity: Type.Optional(EntityParam),
    acknowledged: Type.Optional(Type.Boolean()),
    since: Type.Optional(QueryTime('Incidents still going on at or after this time (ISO-8601 or epoch ms)')),
    until: Type.Optional(QueryTime('Incidents that started at or before this time')),
    limit: Type.Optional(Limit(50, 1000, 'Page size')),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);

export const IncidentListSchema = Type.Object(
  {
    items: Type.Array(IncidentSummarySchema),
    nextCursor: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const IncidentIdParams = Type.Object({ id: Id('Incident id') }, { additionalProperties: false });

export const IncidentDetailQuery = Type.Object(
  {
    childrenPerNode: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 100_000,
        default: 5,
        description: 'Children listed per tree node',
      }),
    ),
    alertsPerNode: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 100_000, default: 3, description: 'Alerts listed per tree node' }),
    ),
  },
  { additionalProperties: false },
);

export const OperatorBody = Type.Object(
  {
    by: Type.Optional(Type.String({ maxLength: 200, description: 'Who (default: the token name)' })),
    comment: Type.Optional(Type.String({ maxLength: 4000 })),
  },
  { additionalProperties: false },
);

export const FeedbackBody = Type.Object(
  {
    verdict: StringEnum(['correct', 'incorrect'] as const, { description: 'Was the root cause right?' }),
    actualCause: Type.Optional(ActualCauseSchema),
    comment: Type.Optional(Type.String({ maxLength: 4000 })),
    by: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const FeedbackListQuery = Type.Object(
  {
    verdict: Type.Optional(StringEnum(['correct', 'incorrect'] as const)),
    incident: Type.Optional(Id('Incident id')),
    limit: Type.Optional(Limit(100, 1000, 'Page size')),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);

export const FeedbackListSchema = Type.Object(
  { items: Type.Array(FeedbackSchema), nextCursor: Type.Optional(Type.String()) },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------------------------
// Entities, topology, health
// ---------------------------------------------------------------------------------------------

export const HealthSchema = Type.Object(
  {
    score: Type.Number({ minimum: 0, maximum: 100, description: '0 (dead) to 100 (fine)' }),
    status: HealthStatusSchema,
    own: Type.Number({ description: 'The entity’s own score before roll-up' }),
    alertPenalty: Type.Number(),
    anomaly: Type.Number({ description: 'Highest anomaly score of its own series, 0..1' }),
    firingAlerts: Type.Integer({ minimum: 0 }),
    children: Type.Optional(
      Type.Object({ count: Type.Integer(), aggregate: Type.Number() }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);

export const AlertSchema = Type.Object(
  {
    id: Type.String(),
    fingerprint: Type.String(),
    rule: Type.String(),
    severity: SeveritySchema,
    state: StringEnum(['firing', 'resolved'] as const),
    entity: EntityRefSchema,
    predicted: Type.Boolean(),
    etaSeconds: Type.Optional(Type.Number()),
    score: Type.Optional(Type.Number()),
    at: Time('Event time of this state change'),
    startsAt: Time('Event time the episode started firing'),
    labels: StringMap(),
    annotations: StringMap(),
  },
  { additionalProperties: false },
);
export type AlertJson = Static<typeof AlertSchema>;

export const EntityParams = Type.Object(
  { level: LevelSchema, id: Id('Entity id') },
  { additionalProperties: false },
);
export const EntityQuery = Type.Object(
  { alerts: Type.Optional(Limit(100, 1000, 'Firing alerts listed')) },
  { additionalProperties: false },
);

export const EntitySchema = Type.Object(
  {
    entity: EntityRefSchema,
    inTopology: Type.Boolean(),
    declared: Type.Boolean({ description: 'Declared by a CMDB record (never expires)' }),
    health: Type.Optional(HealthSchema),
    firingAlerts: Type.Array(AlertSchema),
    firingTotal: Type.Integer({ minimum: 0 }),
    parent: Type.Optional(EntityRefSchema),
    ancestors: Type.Array(EntityRefSchema, { description: 'Parent, grandparent ... up to the IDC' }),
    app: Type.Optional(Type.String({ description: 'The app of a container' })),
    children: Type.Object(
      { total: Type.Integer({ minimum: 0 }), byLevel: IntegerMap() },
      { additionalProperties: false },
    ),
    calls: Type.Optional(Type.Array(Type.String())),
    callers: Type.Optional(Type.Array(Type.String())),
    attributes: StringMap(),
    lastSeen: Type.Optional(Time('Event time last seen in metrics or records')),
    incidents: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          status: StringEnum(['open', 'resolved'] as const),
          severity: SeveritySchema,
          rootCause: CauseRefSchema,
        },
        { additionalProperties: false },
      ),
      { description: 'Incidents whose root cause is this entity' },
    ),
  },
  { additionalProperties: false },
);

const topoFields = {
  entity: EntityRefSchema,
  health: Type.Optional(
    Type.Object(
      { score: Type.Number(), status: HealthStatusSchema, firingAlerts: Type.Integer() },
      { additionalProperties: false },
    ),
  ),
  childCount: Type.Integer({ minimum: 0 }),
  omittedChildren: Type.Integer({ minimum: 0, description: 'Children left out by depth or limit' }),
};
export const TOPOLOGY_MAX_DEPTH = 4;
function topoNode(depth: number): TSchema {
  if (depth === 0) return Type.Object(topoFields, { additionalProperties: false });
  return Type.Object(
    { ...topoFields, children: Type.Optional(Type.Array(topoNode(depth - 1))) },
    { additionalProperties: false },
  );
}
export interface TopologyNodeJson {
  entity: { level: Static<typeof LevelSchema>; id: string };
  health?: { score: number; status: 'healthy' | 'warning' | 'fatal'; firingAlerts: number };
  childCount: number;
  omittedChildren: number;
  children?: TopologyNodeJson[];
}

export const TopologyQuery = Type.Object(
  {
    level: Type.Optional(LevelSchema),
    id: Type.Optional(Id('Root entity id (with level); without both: every IDC')),
    depth: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: TOPOLOGY_MAX_DEPTH,
        default: 2,
        description: 'Levels below the root',
      }),
    ),
    limit: Type.Optional(Limit(1000, 10_000, 'Most nodes in the answer')),
    health: Type.Optional(Type.Boolean({ default: true, description: 'Include health per node' })),
  },
  { additionalProperties: false },
);

export const TopologySchema = Type.Object(
  {
    roots: Type.Array(Type.Unsafe<TopologyNodeJson>(topoNode(TOPOLOGY_MAX_DEPTH))),
    nodes: Type.Integer({ minimum: 0, description: 'Nodes in this answer' }),
    truncated: Type.Boolean({ description: 'The limit cut the answer short' }),
    counts: IntegerMap('Entities per level in the whole topology'),
  },
  { additionalProperties: false },
);

export const FleetHealthQuery = Type.Object(
  {
    level: Type.Optional(LevelSchema),
    limit: Type.Optional(Limit(10, 100, 'Worst entities listed per level')),
  },
  { additionalProperties: false },
);

const StatusCounts = Type.Object(
  {
    healthy: Type.Integer({ minimum: 0 }),
    warning: Type.Integer({ minimum: 0 }),
    fatal: Type.Integer({ minimum: 0 }),
    total: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);

const WorstEntity = Type.Object(
  {
    entity: EntityRefSchema,
    score: Type.Number(),
    status: HealthStatusSchema,
    firingAlerts: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);

export const CapacitySchema = Type.Object(
  {
    resource: Type.String({ description: 'What is bounded: entities (topology), and others stages bound' }),
    held: Type.Integer({ minimum: 0 }),
    limit: Type.Integer({ minimum: 0 }),
    evicted: Type.Integer({ minimum: 0, description: 'Removed to make room, since start' }),
    refused: Type.Integer({ minimum: 0, description: 'Refused with nothing to evict, since start' }),
  },
  { additionalProperties: false },
);

export const FleetHealthSchema = Type.Object(
  {
    status: HealthStatusSchema,
    capacity: Type.Array(CapacitySchema, {
      description: 'Bounded stores of the engine: how full, what the bound evicted and refused',
    }),
    levels: Type.Array(
      Type.Object(
        { level: LevelSchema, counts: StatusCounts, worst: Type.Array(WorstEntity) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------------

export const AlertListQuery = Type.Object(
  {
    state: Type.Optional(StringEnum(['firing', 'resolved'] as const)),
    severity: Type.Optional(SeveritySchema),
    rule: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
    level: Type.Optional(LevelSchema),
    entity: Type.Optional(EntityParam),
    predicted: Type.Optional(Type.Boolean()),
    since: Type.Optional(QueryTime('State changes at or after this time')),
    until: Type.Optional(QueryTime('State changes at or before this time')),
    limit: Type.Optional(Limit(100, 1000, 'Page size')),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);

export const AlertListSchema = Type.Object(
  { items: Type.Array(AlertSchema), nextCursor: Type.Optional(Type.String()) },
  { additionalProperties: false },
);

const MAX_TIME_MS = 253_370_764_799_999; // 9998-12-31T23:59:59.999Z
const InputTime = Type.Unsafe<string | number>({
  anyOf: [
    { type: 'string', format: 'date-time' },
    { type: 'integer', minimum: 0, maximum: MAX_TIME_MS },
  ],
  description: 'ISO-8601 time or epoch milliseconds',
});

export const NativeAlertSchema = Type.Object(
  {
    entity: EntityRefSchema,
    rule: Type.String({ minLength: 1 }),
    state: StringEnum(['firing', 'resolved'] as const),
    at: InputTime,
    severity: Type.Optional(SeveritySchema),
    startsAt: Type.Optional(InputTime),
    id: Type.Optional(Type.String({ minLength: 1 })),
    fingerprint: Type.Optional(Type.String({ minLength: 1 })),
    labels: Type.Optional(StringMap()),
    annotations: Type.Optional(StringMap()),
    predicted: Type.Optional(Type.Boolean()),
    etaSeconds: Type.Optional(Type.Number()),
    score: Type.Optional(Type.Number()),
  },
  { additionalProperties: true, title: 'NativeAlert' },
);

export const AlertmanagerPayloadSchema = Type.Object(
  {
    version: Type.String({ enum: ['4'] }),
    status: Type.Optional(StringEnum(['firing', 'resolved'] as const)),
    receiver: Type.Optional(Type.String()),
    groupKey: Type.Optional(Type.String()),
    groupLabels: Type.Optional(StringMap()),
    commonLabels: Type.Optional(StringMap()),
    commonAnnotations: Type.Optional(StringMap()),
    externalURL: Type.Optional(Type.String()),
    truncatedAlerts: Type.Optional(Type.Integer()),
    alerts: Type.Array(
      Type.Object(
        {
          status: StringEnum(['firing', 'resolved'] as const),
          labels: StringMap('alertname names the rule; container/host/app/rack/idc (or instance) the entity'),
          annotations: Type.Optional(StringMap()),
          startsAt: Type.String({ format: 'date-time' }),
          endsAt: Type.Optional(Type.String()),
          generatorURL: Type.Optional(Type.String()),
          fingerprint: Type.Optional(Type.String()),
        },
        { additionalProperties: true },
      ),
    ),
  },
  { additionalProperties: true, title: 'AlertmanagerWebhookV4' },
);

/** Documented shape of POST /alerts (validated per alert by the handler, see routes/alerts.ts). */
export const AlertsBodySchema = Type.Unsafe<unknown>({
  anyOf: [
    NativeAlertSchema,
    { type: 'array', items: NativeAlertSchema, maxItems: 100_000 },
    AlertmanagerPayloadSchema,
  ],
  description:
    'One native alert record (the --alerts JSON Lines shape), an array of them, or a Prometheus ' +
    'Alertmanager webhook payload (version 4). Also accepted as application/x-ndjson (JSON Lines).',
});

export const AlertIngestSchema = Type.Object(
  {
    accepted: Type.Integer({ minimum: 0 }),
    rejected: Type.Integer({ minimum: 0 }),
    format: StringEnum(['native', 'alertmanager', 'jsonl'] as const),
    errors: Type.Array(
      Type.Object(
        {
          index: Type.Integer({
            minimum: 0,
            description: '0-based position of the alert (JSON Lines: line - 1)',
          }),
          message: Type.String(),
        },
        { additionalProperties: false },
      ),
      { description: 'The first 100 rejected alerts' },
    ),
  },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------------------------
// Silences and notifications
// ---------------------------------------------------------------------------------------------

export const SilenceSchema = Type.Object(
  {
    id: Type.String(),
    matchers: Type.Array(Type.String()),
    startsAt: Time(),
    endsAt: Time(),
    createdBy: Type.String(),
    comment: Type.String(),
    createdAt: Time(),
    active: Type.Boolean({ description: 'In force now (wall clock)' }),
    kind: StringEnum(['silence', 'maintenance'] as const, {
      description: 'maintenance: a window from the config file (read-only)',
    }),
  },
  { additionalProperties: false },
);

export const SilenceListQuery = Type.Object(
  {
    active: Type.Optional(Type.Boolean({ description: 'Only silences in force now (true) or not (false)' })),
  },
  { additionalProperties: false },
);

export const SilenceListSchema = Type.Object(
  { items: Type.Array(SilenceSchema) },
  { additionalProperties: false },
);

export const SilenceBody = Type.Object(
  {
    matchers: Type.Array(Type.String({ minLength: 1, maxLength: 1024, pattern: MATCHER_SYNTAX }), {
      minItems: 1,
      maxItems: 64,
      description: 'Alertmanager-style matchers on incident labels, e.g. app="pay", severity=~"crit.*"',
    }),
    startsAt: Type.Optional(Type.String({ format: 'date-time', description: 'Default: now' })),
    endsAt: Type.Optional(Type.String({ format: 'date-time' })),
    duration: Type.Optional(
      Type.String({
        pattern: '^(\\d+(\\.\\d+)?(ms|s|m|h|d|w))+$',
        maxLength: 32,
        description: 'Instead of endsAt: 2h, 30m ...',
      }),
    ),
    createdBy: Type.Optional(Type.String({ maxLength: 200 })),
    comment: Type.Optional(Type.String({ maxLength: 4000 })),
  },
  {
    additionalProperties: false,
    description: 'endsAt or duration says how long it lasts (one of them, not both)',
    anyOf: [{ required: ['endsAt'] }, { required: ['duration'] }],
    not: { required: ['endsAt', 'duration'] },
  },
);

export const SilenceIdParams = Type.Object({ id: Id('Silence id') }, { additionalProperties: false });

export const DeletedSchema = Type.Object(
  { id: Type.String(), deleted: Type.Boolean() },
  { additionalProperties: false },
);

export const DeadLetterSchema = Type.Object(
  {
    id: Type.String({ description: 'Delivery key; POST .../retry takes it' }),
    sink: Type.String(),
    incidentId: Type.String(),
    version: Type.Integer(),
    event: StringEnum(['opened', 'updated', 'resolved'] as const),
    reason: Type.String(),
    attempts: Type.Integer({ minimum: 0 }),
    failedAt: Time('Wall-clock time of the last attempt'),
    queuedAt: Time('Wall-clock time it was first queued'),
  },
  { additionalProperties: false },
);

export const DeadLetterListSchema = Type.Object(
  { items: Type.Array(DeadLetterSchema) },
  { additionalProperties: false },
);

export const DeadLetterParams = Type.Object(
  { id: Type.String({ minLength: 1, maxLength: 2048, description: 'Dead letter id' }) },
  { additionalProperties: false },
);

export const RetryQuery = Type.Object(
  {
    force: Type.Optional(
      Type.Boolean({ default: false, description: 'Send even if a later version was delivered since' }),
    ),
  },
  { additionalProperties: false },
);

export const RetrySchema = Type.Object(
  { id: Type.String(), requeued: Type.Boolean(), reason: Type.Optional(Type.String()) },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

export const LivenessSchema = Type.Object(
  { status: StringEnum(['ok'] as const) },
  { additionalProperties: false },
);

export const ReadinessSchema = Type.Object(
  {
    ready: Type.Boolean(),
    checks: Type.Unsafe<Record<string, { ok: boolean; detail?: string }>>({
      type: 'object',
      additionalProperties: {
        type: 'object',
        properties: { ok: { type: 'boolean' }, detail: { type: 'string' } },
        required: ['ok'],
        additionalProperties: false,
      },
    }),
  },
  { additionalProperties: false },
);
