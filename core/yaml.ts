import {
  type Alias,
  Composer,
  CST,
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  type Node,
  Parser,
  YAMLParseError,
} from 'yaml';

/**
 * YAML parsing with bounds, for files that people (or attackers) write: rule files, the config.
 * Everything is linear in the size of the text, nothing throws, and every problem has a
 * 1-based line and column.
 *
 * - size: at most `maxBytes` (1 MiB);
 * - depth: a watch on the tokens between yaml's lexer and its parser stops at nesting far beyond
 *   `maxDepth`, before the parser (slow on deep collections, and its composer recursive) sees
 *   it; the conversion then refuses anything deeper than `maxDepth` (64) exactly;
 * - aliases: at most `maxAliases` (10,000) per file, and the document as expanded (every alias
 *   counted as the nodes it stands for) at most `maxNodes` (250,000) nodes. A legitimate file that
 *   uses one anchor 150 times is fine; a "billion laughs" is refused at the alias that crosses
 *   the bound. (yaml's own toJS() guard refuses the first and throws: it is not used.)
 *
 * Mapping keys must be scalars; `__proto__` and `constructor` are ordinary own keys.
 */

export interface YamlLimits {
  maxBytes: number;
  maxDepth: number;
  maxAliases: number;
  maxNodes: number;
}

export const YAML_LIMITS: Readonly<YamlLimits> = Object.freeze({
  maxBytes: 1 << 20,
  maxDepth: 64,
  maxAliases: 10_000,
  maxNodes: 250_000,
});

export interface YamlProblem {
  line: number;
  column: number;
  message: string;
}

export interface YamlParse {
  /** The parsed document (for positions of nodes), unless the text was refused before parsing. */
  doc: Document | undefined;
  lineCounter: LineCounter;
  /** The data; undefined when `ok` is false. An empty document is null. */
  data: unknown;
  /** False when the data could not be read (an error, not only a warning). */
  ok: boolean;
  /** Errors and warnings, in the order found. */
  problems: YamlProblem[];
  /** The node an alias stands for (as resolved while reading), for positions inside aliases. */
  resolveAlias(alias: Alias): Node | undefined;
}

export function parseYaml(text: string, limits: Partial<YamlLimits> = {}): YamlParse {
  const lim = { ...YAML_LIMITS, ...limits };
  const lineCounter = new LineCounter();
  const targets = new Map<Alias, Node>();
  const out: YamlParse = {
    doc: undefined,
    lineCounter,
    data: undefined,
    ok: false,
    problems: [],
    resolveAlias: (a) => targets.get(a),
  };
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > lim.maxBytes) {
    out.problems.push({
      line: 1,
      column: 1,
      message: `file is ${bytes} bytes; at most ${lim.maxBytes} are read`,
    });
    return out;
  }
  const doc = parseBounded(text, lineCounter, 2 * lim.maxDepth);
  if (typeof doc === 'number') {
    const p = lineCounter.linePos(doc);
    out.problems.push({
      line: p.line,
      column: p.col,
      message: `nested more than ${lim.maxDepth} levels deep`,
    });
    return out;
  }
  out.doc = doc;
  for (const e of [...doc.errors, ...doc.warnings]) {
    const p = lineCounter.linePos(e.pos[0]);
    out.problems.push({
      line: p.line,
      column: p.col,
      message: e.message.replace(/ at line \d+, column \d+.*$/s, ''),
    });
  }
  if (doc.errors.length > 0) return out;
  const reader = new Reader(lim, targets);
  try {
    out.data = doc.contents === null ? null : reader.read(doc.contents as Node, 1);
    out.ok = true;
  } catch (e) {
    if (!(e instanceof Refusal)) throw e;
    const offset = e.node?.range?.[0] ?? 0;
    const p = lineCounter.linePos(offset);
    out.problems.push({ line: p.line, column: p.col, message: e.message });
    out.data = undefined;
  }
  return out;
}

class Refusal extends Error {
  constructor(
    message: string,
    readonly node: Node | undefined,
  ) {
    super(message);
  }
}

/** AST to plain data, resolving aliases by reference (never copying), counting as it goes. */
class Reader {
  private readonly anchors = new Map<string, { value: unknown; size: number; node: Node }>();
  private aliases = 0;
  /** Nodes read so far, each alias counted as the size of what it stands for. */
  private expanded = 0;

  constructor(
    private readonly lim: YamlLimits,
    private readonly targets: Map<Alias, Node>,
  ) {}

  read(node: Node, depth: number): unknown {
    if (depth > this.lim.maxDepth)
      throw new Refusal(`nested more than ${this.lim.maxDepth} levels deep`, node);
    if (isAlias(node)) {
      if (++this.aliases > this.lim.maxAliases)
        throw new Refusal(`more than ${this.lim.maxAliases} aliases in one file`, node);
      const a = this.anchors.get(node.source);
      if (a === undefined) throw new Refusal(`alias *${node.source} names no anchor before it`, node);
      this.targets.set(node, a.node);
      this.count(a.size, node);
      return a.value;
    }
    const before = this.expanded;
    this.count(1, node);
    let value: unknown;
    if (isScalar(node)) {
      value = node.value;
    } else if (isMap(node)) {
      const obj: Record<string, unknown> = {};
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const k = pair.key as Node | null;
        if (k !== null && !isScalar(k)) throw new Refusal('a mapping key must be a plain value', k);
        const key = k === null || k.value === null || k.value === undefined ? '' : String(k.value);
        const v = pair.value === null ? null : this.read(pair.value as Node, depth + 1);
        if (key === '__proto__')
          Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
        else obj[key] = v;
      }
      value = obj;
    } else if (isSeq(node)) {
      const arr: unknown[] = [];
      for (const item of node.items) arr.push(item === null ? null : this.read(item as Node, depth + 1));
      value = arr;
    } else {
      throw new Refusal('unsupported YAML node', node);
    }
    const size = this.expanded - before;
    if (node.anchor) this.anchors.set(node.anchor, { value, size, node });
    return value;
  }

  private count(n: number, node: Node): void {
    this.expanded += n;
    if (this.expanded > this.lim.maxNodes) {
      throw new Refusal(
        isAlias(node)
          ? `aliases expand the document beyond ${this.lim.maxNodes} nodes (at *${node.source})`
          : `more than ${this.lim.maxNodes} nodes`,
        node,
      );
    }
  }
}

class TooDeep {
  constructor(readonly offset: number) {}
}

/**
 * yaml's parseDocument, with the depth watched between its lexer and its parser (one pass over
 * the text): the offset of the first token nested deeper than `limit` instead of a document.
 */
function parseBounded(text: string, lineCounter: LineCounter, limit: number): Document | number {
  const parser = new Parser(lineCounter.addNewLine);
  const depth = new DepthWatch(limit);
  function* tokens(): Generator<CST.Token, void> {
    lineCounter.addNewLine(0);
    for (const lexeme of new Lexer().lex(text)) {
      if (depth.tooDeep(lexeme)) throw new TooDeep(depth.at);
      yield* parser.next(lexeme);
    }
    yield* parser.end();
  }
  let doc: Document | undefined;
  try {
    const composer = new Composer({ prettyErrors: false, uniqueKeys: true });
    for (const d of composer.compose(tokens(), true, text.length)) {
      if (doc === undefined) {
        doc = d;
      } else {
        const message = 'Source contains multiple documents; please use YAML.parseAllDocuments()';
        doc.errors.push(new YAMLParseError([d.range[0], d.range[1]], 'MULTIPLE_DOCS', message));
        break;
      }
    }
  } catch (e) {
    if (e instanceof TooDeep) return e.offset;
    throw e;
  }
  return doc!;
}

/**
 * An estimate of the nesting from the tokens alone (flow brackets exactly; block nesting from
 * the columns where nodes start), so that the parser never meets a document thousands of
 * levels deep: its cost grows with the depth, and its composer recurses.
 */
class DepthWatch {
  /** Offset of the token last seen. */
  at = 0;
  private readonly columns: number[] = [];
  private flow = 0;
  private offset = 0;
  private lineStart = 0;
  private skipNext = false;

  constructor(private readonly limit: number) {}

  tooDeep(token: string): boolean {
    const at = this.offset;
    this.at = at;
    // The lexer's markers (document, scalar, flow-error-end) are not in the text.
    if (token === CST.DOCUMENT || token === CST.FLOW_END) return false;
    if (token === CST.SCALAR) {
      this.skipNext = true;
      return this.start(at);
    }
    this.offset += token.length;
    const nl = token.lastIndexOf('\n');
    if (this.skipNext) {
      // The source of a scalar after its marker: block scalar content can be indented anyhow.
      this.skipNext = false;
    } else {
      switch (CST.tokenType(token)) {
        case 'doc-start':
          this.columns.length = 0;
          this.flow = 0;
          break;
        case 'flow-map-start':
        case 'flow-seq-start':
          this.start(at);
          this.flow++;
          break;
        case 'flow-map-end':
        case 'flow-seq-end':
          if (this.flow > 0) this.flow--;
          break;
        case 'seq-item-ind':
        case 'explicit-key-ind':
        case 'alias':
        case 'single-quoted-scalar':
        case 'double-quoted-scalar':
          this.start(at);
          break;
        default:
          break;
      }
    }
    if (nl >= 0) this.lineStart = at + nl + 1;
    return this.columns.length + this.flow > this.limit;
  }

  /** A node starts at `at`: in block context it closes every open one at its column or right of it. */
  private start(at: number): boolean {
    if (this.flow === 0) {
      const column = at - this.lineStart;
      const columns = this.columns;
      while (columns.length > 0 && columns[columns.length - 1]! >= column) columns.pop();
      columns.push(column);
    }
    return this.columns.length + this.flow > this.limit;
  }
}
