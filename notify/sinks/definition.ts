import type { z } from 'zod';
import type { TextFormat } from '../escape.js';
import type { Sink } from '../types.js';
import type { SinkContext } from './common.js';

/**
 * One integration: its config keys (beyond the common name/type/timeout/rateLimit/template), its
 * default templates and a factory. A new sink is one file exporting a definition plus one line in
 * registry.ts.
 */
export interface SinkDefinition<Shape extends z.ZodRawShape = z.ZodRawShape> {
  type: string;
  /** One line for docs and error messages. */
  description: string;
  options: z.ZodObject<Shape>;
  /** Default templates; the generic defaults (template.ts) fill what is not given. */
  templates?: { title?: string; text?: string };
  /** The markup the sink's text is read as: values inserted by templates are escaped for it. Default plain. */
  format?: TextFormat;
  create(options: z.output<z.ZodObject<Shape>>, context: SinkContext): Sink;
}

export function defineSink<Shape extends z.ZodRawShape>(
  definition: SinkDefinition<Shape>,
): SinkDefinition<Shape> {
  return definition;
}
