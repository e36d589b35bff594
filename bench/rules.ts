/**
 * What the hardening of rules costs and saves, each against a baseline in the same run:
 *
 * - matchers: RE2 (core/matchers.ts, re2js) vs the JavaScript RegExp they replaced, per test of
 *   typical selector patterns; and a catastrophic pattern, `(a+)+b`, against growing values:
 *   RE2 stays linear, RegExp doubles per character (measured up to 24 characters; 28 took 15 s);
 * - YAML: the bounded reader (core/yaml.ts) vs yaml's parseDocument().toJS() on the default
 *   pack, and on a billion laughs and deep nesting (refused) and a file with 150 aliases (which
 *   toJS() refused);
 * - rule loading: the default pack, templates rendered with sample values included.
 *
 *   npx tsx bench/rules.ts
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { parseMatcherOrThrow } from '../core/matchers.js';
import { parseYaml } from '../core/yaml.js';
import { aliasedRules, billionLaughs } from '../fixtures/hostile-rules.js';
import { defaultRulesDir, loadRules } from '../rules/load.js';

/** Median ns per call of `fn` over `rounds` rounds of `n` calls. */
function nsPerCall(n: number, fn: (i: number) => unknown, rounds = 7): number {
  const times: number[] = [];
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (fn(i)) sink++;
    times.push(Number(process.hrtime.bigint() - t0) / n);
  }
  if (sink < 0) console.log(sink);
  return times.sort((a, b) => a - b)[rounds >> 1]!;
}

function ms(fn: () => unknown): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

console.log('matchers: ns per test, RE2 (re2js) vs RegExp');
const values = Array.from(
  { length: 1000 },
  (_, i) => [`web-${i}`, 'cpu-total', `/data/vol${i}`, 'tmpfs'][i % 4]!,
);
for (const pattern of [
  'cpu-total',
  'web-[0-9]+',
  'tmpfs|devtmpfs|overlay|squashfs|iso9660|nsfs',
  '/(data|var)/.*',
]) {
  const re2 = parseMatcherOrThrow(`x=~"${pattern}"`).regex!;
  const js = new RegExp(`^(?:${pattern})$`);
  const a = nsPerCall(200_000, (i) => re2.testExact(values[i % 1000]!));
  const b = nsPerCall(200_000, (i) => js.test(values[i % 1000]!));
  console.log(
    `  ${pattern.padEnd(48)} RE2 ${a.toFixed(0).padStart(5)} ns   RegExp ${b.toFixed(0).padStart(4)} ns   ${(a / b).toFixed(1)}x`,
  );
}

console.log('catastrophic (a+)+b against n "a"s: ms per test');
const evil = parseMatcherOrThrow('x=~"(a+)+b"').regex!;
for (const n of [28, 1000, 100_000, 1_000_000]) {
  const v = 'a'.repeat(n);
  console.log(`  RE2    n=${String(n).padStart(9)}  ${ms(() => evil.testExact(v)).toFixed(2)} ms`);
}
const jsEvil = /^(?:(a+)+b)$/;
for (const n of [18, 20, 22, 24]) {
  const v = 'a'.repeat(n);
  console.log(`  RegExp n=${String(n).padStart(9)}  ${ms(() => jsEvil.test(v)).toFixed(2)} ms`);
}

console.log('YAML: ms per read');
/** What rules/load.ts did before: positions and unique keys, then toJS(). */
const oldRead = (text: string) =>
  parseDocument(text, { lineCounter: new LineCounter(), prettyErrors: false, uniqueKeys: true }).toJS();
const pack = readdirSync(defaultRulesDir())
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => readFileSync(join(defaultRulesDir(), f), 'utf8'));
/** Medians of `a` and `b` over `rounds` interleaved runs (the machine is shared: runs vary). */
function interleaved(a: () => unknown, b: () => unknown, rounds = 21): [number, number] {
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < rounds + 5; i++) {
    const x = ms(a);
    const y = ms(b);
    if (i < 5) continue; // warm-up
    ta.push(x);
    tb.push(y);
  }
  const median = (t: number[]) => t.sort((p, q) => p - q)[t.length >> 1]!;
  return [median(ta), median(tb)];
}
const [bounded, plain] = interleaved(
  () => pack.map((t) => parseYaml(t)),
  () => pack.map((t) => oldRead(t)),
);
console.log(
  `  default pack (5 files): bounded ${bounded.toFixed(2)} ms, the previous parseDocument().toJS() ${plain.toFixed(2)} ms (${(bounded / plain).toFixed(2)}x)`,
);
const laughs = billionLaughs();
console.log(`  billion laughs: bounded refuses it in ${ms(() => parseYaml(laughs)).toFixed(1)} ms`);
const aliased = aliasedRules(150);
for (let i = 0; i < 3; i++) parseYaml(aliased);
console.log(
  `  150 rules sharing 2 anchors (298 aliases, 35 KB): bounded ${ms(() => parseYaml(aliased)).toFixed(1)} ms; toJS() ${(() => {
    try {
      oldRead(aliased);
      return 'reads it';
    } catch (e) {
      return `throws "${(e as Error).message}"`;
    }
  })()}`,
);
const deep = `a: ${'['.repeat(100_000)}${']'.repeat(100_000)}`;
console.log(
  `  100,000 levels of [ ] (200 KB): bounded refuses it in ${ms(() => parseYaml(deep)).toFixed(1)} ms; parseDocument ${ms(() => parseDocument(deep)).toFixed(0)} ms`,
);

console.log('rule loading');
loadRules(defaultRulesDir());
console.log(
  `  default pack (33 rules, every template rendered with ${20} samples): ${ms(() => loadRules(defaultRulesDir())).toFixed(1)} ms`,
);
