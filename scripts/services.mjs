#!/usr/bin/env node
// Real services for the integration tests and the distributed demo: Apache Kafka (KRaft, from
// Maven Central jars), Redis, victoria-metrics and Alertmanager, each on loopback on a port away
// from its standard one, with data under a temp folder.
//
//   node scripts/services.mjs start|stop|status [kafka|redis|tsdb|alertmanager ...]
//
// Plain Node, no npm packages: it runs before `npm ci` has.
//
// Environment:
//   CONVERGE_SERVICES_DIR   pid files, logs, data (default $TMPDIR/converge-services)
//   CONVERGE_CACHE_DIR      persistent cache root; Kafka jars go to <it>/kafka-3.9.1/libs
//                           (default ~/.cache/converge)
//   CONVERGE_KAFKA_PORT (39092), CONVERGE_KAFKA_CONTROLLER_PORT (39093), CONVERGE_REDIS_PORT
//   (36379), CONVERGE_TSDB_PORT (38428), CONVERGE_ALERTMANAGER_PORT (39094)
//   CONVERGE_KAFKA_HEAP     broker heap (default 512m)
//   CONVERGE_SERVICES_TIMEOUT_MS  readiness timeout for every service (default per service)
//   CONVERGE_REDIS_BIN, CONVERGE_TSDB_BIN, CONVERGE_ALERTMANAGER_BIN, JAVA_HOME, CONVERGE_MVN_BIN
//
// `start` prints the lines to put in the environment (KAFKA_BROKERS=..., REDIS_URL=..., TSDB_URL=...,
// ALERTMANAGER_URL=...) on stdout and its progress on stderr, so `export $(node scripts/services.mjs start)`
// works.

import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HOST = '127.0.0.1';
const KAFKA_VERSION = '3.9.1';
const SCRIPT_DIR = path.dirname(fileURLToPath(import.meta.url));
const KAFKA_TEMPLATE_DIR = path.join(SCRIPT_DIR, 'kafka');

export const serviceNames = Object.freeze(['kafka', 'redis', 'tsdb', 'alertmanager']);

/** The env var through which tests (and the app) are pointed at each service. */
export const serviceEnvVars = Object.freeze({
  kafka: 'KAFKA_BROKERS',
  redis: 'REDIS_URL',
  tsdb: 'TSDB_URL',
  alertmanager: 'ALERTMANAGER_URL',
});

const APT_PACKAGES = {
  'redis-server': 'redis-server',
  'victoria-metrics': 'victoria-metrics',
  'prometheus-alertmanager': 'prometheus-alertmanager',
  java: 'default-jre-headless',
  mvn: 'maven',
};

// ---------------------------------------------------------------------------------------------
// Configuration (read from the environment on every call, so callers may change it in between)

function portFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`${name}=${JSON.stringify(raw)} is not a TCP port (1-65535)`);
  }
  return port;
}

/** Resolved paths and ports. */
export function config() {
  const root = process.env.CONVERGE_SERVICES_DIR || path.join(os.tmpdir(), 'converge-services');
  const cacheRoot =
    process.env.CONVERGE_CACHE_DIR ||
    path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'converge');
  const timeout = process.env.CONVERGE_SERVICES_TIMEOUT_MS
    ? Number(process.env.CONVERGE_SERVICES_TIMEOUT_MS)
    : undefined;
  if (timeout !== undefined && !(timeout > 0)) {
    throw new Error(
      `CONVERGE_SERVICES_TIMEOUT_MS=${process.env.CONVERGE_SERVICES_TIMEOUT_MS} is not a positive number`,
    );
  }
  return {
    root: path.resolve(root),
    kafkaHome: path.resolve(cacheRoot, `kafka-${KAFKA_VERSION}`),
    kafkaHeap: process.env.CONVERGE_KAFKA_HEAP || '512m',
    timeoutMs: timeout,
    ports: {
      kafka: portFromEnv('CONVERGE_KAFKA_PORT', 39092),
      kafkaController: portFromEnv('CONVERGE_KAFKA_CONTROLLER_PORT', 39093),
      redis: portFromEnv('CONVERGE_REDIS_PORT', 36379),
      tsdb: portFromEnv('CONVERGE_TSDB_PORT', 38428),
      alertmanager: portFromEnv('CONVERGE_ALERTMANAGER_PORT', 39094),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

function isExecutableFile(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Absolute path of a program: `override` (a path or a name) when given, else `name` on PATH. */
function findExecutable(name, override) {
  const wanted = override || name;
  if (wanted.includes('/')) return isExecutableFile(wanted) ? path.resolve(wanted) : null;
  const dirs = (process.env.PATH || '')
    .split(path.delimiter)
    .concat(['/usr/local/bin', '/usr/bin', '/usr/sbin']);
  for (const dir of dirs) {
    if (dir && isExecutableFile(path.join(dir, wanted))) return path.join(dir, wanted);
  }
  return null;
}

/** True when pid is a live (not zombie) process whose command line contains marker. */
function processAlive(pid, marker) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (error.code !== 'EPERM') return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    if (marker) {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmdline.includes(marker)) return false;
    }
  } catch {
    // No /proc (not Linux): kill(pid, 0) is all we can know.
  }
  return true;
}

function readPid(file) {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Last `lines` lines of a log file written after byte `since`, or a note that there are none. */
export function logTail(file, lines = 40, since = 0) {
  let fd;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    const from = Math.max(since, size - 64 * 1024, 0);
    const buffer = Buffer.alloc(Math.max(size - from, 0));
    fs.readSync(fd, buffer, 0, buffer.length, from);
    const text = buffer.toString('utf8').replace(/\s+$/, '');
    if (!text) return since > 0 ? '(nothing logged since this start)' : '(log file is empty)';
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return `(no log file at ${file})`;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function fileSize(file) {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

function logContainsSince(file, offset, needle) {
  let fd;
  try {
    fd = fs.openSync(file, 'r');
    const size = fs.fstatSync(fd).size;
    if (size <= offset) return false;
    const buffer = Buffer.alloc(size - offset);
    fs.readSync(fd, buffer, 0, buffer.length, offset);
    return buffer.includes(needle);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Exclusive lock between processes (and between concurrent calls in one process). */
async function withLock(file, timeoutMs, fn) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      const owner = readPid(file);
      let age = 0;
      try {
        age = Date.now() - fs.statSync(file).mtimeMs;
      } catch {
        continue;
      }
      if ((owner === null && age > 10_000) || (owner !== null && !processAlive(owner))) {
        fs.rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${seconds(timeoutMs)} waiting for ${file} (held by pid ${owner})`);
      }
      await sleep(150);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(file, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Health checks over the wire

/** Sends request to host:port and resolves with the reply once complete(reply) holds, else null. */
function tcpExchange(port, request, complete, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const chunks = [];
    let length = 0;
    let done = false;
    const finish = (value) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(value);
    };
    const socket = net.connect({ host: HOST, port });
    socket.setTimeout(timeoutMs, () => finish(null));
    socket.on('error', () => finish(null));
    socket.on('close', () => finish(null));
    socket.on('connect', () => {
      if (request) socket.write(request);
      else finish(Buffer.alloc(0));
    });
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      length += chunk.length;
      const reply = Buffer.concat(chunks, length);
      if (complete(reply)) finish(reply);
    });
  });
}

async function portOpen(port) {
  return (await tcpExchange(port, null, () => true, 1000)) !== null;
}

/** One request to the broker (non-flexible request header v1); resolves with the response body or null. */
async function kafkaRequest(port, apiKey, apiVersion, body) {
  const clientId = Buffer.from('converge-services');
  const correlationId = (Math.random() * 0x7fffffff) | 0;
  const header = Buffer.alloc(4 + 2 + 2 + 4 + 2);
  header.writeInt32BE(header.length - 4 + clientId.length + body.length, 0);
  header.writeInt16BE(apiKey, 4);
  header.writeInt16BE(apiVersion, 6);
  header.writeInt32BE(correlationId, 8);
  header.writeInt16BE(clientId.length, 12);
  const reply = await tcpExchange(
    port,
    Buffer.concat([header, clientId, body]),
    (buf) => buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0),
  );
  if (reply === null || reply.length < 8 || reply.readInt32BE(4) !== correlationId) return null;
  return reply.subarray(8);
}

function kafkaString(value) {
  const bytes = Buffer.from(value);
  const out = Buffer.alloc(2 + bytes.length);
  out.writeInt16BE(bytes.length, 0);
  bytes.copy(out, 2);
  return out;
}

// ApiVersions: the broker only answers once it has finished starting up.
async function kafkaHealthy(port) {
  const body = await kafkaRequest(port, 18, 0, Buffer.alloc(0));
  return body !== null && body.length >= 2 && body.readInt16BE(0) === 0;
}

/**
 * A fresh broker creates __consumer_offsets on the first FindCoordinator and then loads it, and
 * consumer groups fail to join until then ("coordinator is loading"). Waiting for it here keeps that
 * out of the first test that uses a group.
 */
async function kafkaGroupCoordinatorReady(port) {
  const group = kafkaString('converge-services-probe');
  const found = await kafkaRequest(port, 10, 0, group); // FindCoordinator v0
  if (found === null || found.length < 2 || found.readInt16BE(0) !== 0) return false;
  const allTopics = Buffer.alloc(4);
  allTopics.writeInt32BE(-1, 0);
  const offsets = await kafkaRequest(port, 9, 2, Buffer.concat([group, allTopics])); // OffsetFetch v2
  // A group that never committed has no topics, so the body is [0 topics][error code].
  return (
    offsets !== null && offsets.length === 6 && offsets.readInt32BE(0) === 0 && offsets.readInt16BE(4) === 0
  );
}

async function redisHealthy(port) {
  const reply = await tcpExchange(port, Buffer.from('*1\r\n$4\r\nPING\r\n'), (buf) => buf.includes('\r\n'));
  return reply?.toString('latin1').startsWith('+PONG') === true;
}

async function httpHealthy(url, expectBody) {
  // Not AbortSignal.timeout(): its timer is unref'd, so a server that accepts and never answers
  // would let the CLI's event loop run dry and exit 0 in the middle of a start.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 2000);
  try {
    const response = await fetch(url, { signal: controller.signal });
    const body = await response.text();
    return response.ok && (expectBody === undefined || body.trim() === expectBody);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Installing what is missing

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

// Env vars that name a program instead of looking it up on PATH.
const TOOL_OVERRIDES = {
  'redis-server': 'CONVERGE_REDIS_BIN',
  'victoria-metrics': 'CONVERGE_TSDB_BIN',
  'prometheus-alertmanager': 'CONVERGE_ALERTMANAGER_BIN',
  mvn: 'CONVERGE_MVN_BIN',
  java: 'JAVA_HOME',
};

function missingToolError(tools, reason) {
  const packages = tools.map((t) => APT_PACKAGES[t] ?? t);
  const overrides = tools
    .filter((t) => process.env[TOOL_OVERRIDES[t]])
    .map((t) => ` ${TOOL_OVERRIDES[t]}=${process.env[TOOL_OVERRIDES[t]]} names no executable ${t}.`);
  return new Error(
    `missing ${tools.join(', ')}${reason ? ` (${reason})` : ''}.${overrides.join('')} Install them, e.g. ` +
      `\`sudo apt-get install -y ${packages.join(' ')}\`, or point the tests at running services with ` +
      'KAFKA_BROKERS=host:port, REDIS_URL=redis://host:port, TSDB_URL=http://host:port, ' +
      'ALERTMANAGER_URL=http://host:port.',
  );
}

function aptInstall(tools, root, log) {
  const packages = [...new Set(tools.map((t) => APT_PACKAGES[t] ?? t))];
  if (!isRoot() || !findExecutable('apt-get')) {
    throw missingToolError(tools, isRoot() ? 'no apt-get here' : 'not root, so not installing them');
  }
  fs.mkdirSync(root, { recursive: true });
  const aptLog = path.join(root, 'apt.log');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args) => {
    const out = fs.openSync(aptLog, 'a');
    try {
      return spawnSync('apt-get', args, { stdio: ['ignore', out, out], env }).status === 0;
    } finally {
      fs.closeSync(out);
    }
  };
  const started = Date.now();
  log(`installing ${packages.join(' ')} with apt-get (log: ${aptLog})`);
  let ok = run(['install', '-y', '--no-install-recommends', ...packages]);
  if (!ok) {
    log('apt-get install failed; running apt-get update and trying again');
    ok = run(['update']) && run(['install', '-y', '--no-install-recommends', ...packages]);
  }
  if (!ok) {
    throw new Error(
      `apt-get install ${packages.join(' ')} failed; tail of ${aptLog}:\n${logTail(aptLog, 20)}`,
    );
  }
  log(`installed ${packages.join(' ')} in ${seconds(Date.now() - started)}`);
}

function javaPath() {
  if (process.env.JAVA_HOME) return findExecutable(path.join(process.env.JAVA_HOME, 'bin', 'java'));
  return findExecutable('java');
}

const mvnPath = () => findExecutable('mvn', process.env.CONVERGE_MVN_BIN);

// ---------------------------------------------------------------------------------------------
// The services

function pomHash() {
  return createHash('sha256')
    .update(fs.readFileSync(path.join(KAFKA_TEMPLATE_DIR, 'pom.xml')))
    .digest('hex');
}

function kafkaLibsReady(cfg) {
  try {
    return fs.readFileSync(path.join(cfg.kafkaHome, 'libs.complete'), 'utf8').trim() === pomHash();
  } catch {
    return false;
  }
}

/** Resolves the broker's jars from Maven Central into the persistent cache, once. */
async function ensureKafkaLibs(cfg, log, timings) {
  if (kafkaLibsReady(cfg)) return;
  await withLock(path.join(cfg.kafkaHome, 'resolve.lock'), 30 * 60_000, async () => {
    if (kafkaLibsReady(cfg)) return;
    const mvn = mvnPath();
    if (!mvn) throw missingToolError(['mvn']);
    const libs = path.join(cfg.kafkaHome, 'libs');
    const staging = path.join(cfg.kafkaHome, `libs.tmp-${process.pid}`);
    const mvnLog = path.join(cfg.kafkaHome, 'mvn.log');
    fs.rmSync(staging, { recursive: true, force: true });
    const started = Date.now();
    log(`kafka: resolving Kafka ${KAFKA_VERSION} jars from Maven Central with mvn (log: ${mvnLog})`);
    const status = await new Promise((resolve, reject) => {
      const out = fs.openSync(mvnLog, 'w');
      const child = spawn(
        mvn,
        [
          '-q',
          '-B',
          '-f',
          path.join(KAFKA_TEMPLATE_DIR, 'pom.xml'),
          'dependency:copy-dependencies',
          `-DoutputDirectory=${staging}`,
        ],
        { stdio: ['ignore', out, out] },
      );
      fs.closeSync(out);
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve(code ?? signal));
    });
    if (status !== 0) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw new Error(
        `mvn dependency:copy-dependencies exited with ${status}; tail of ${mvnLog}:\n${logTail(mvnLog, 30)}`,
      );
    }
    const jars = fs.readdirSync(staging).filter((f) => f.endsWith('.jar'));
    if (!jars.some((f) => f.startsWith('kafka_2.13-'))) {
      throw new Error(
        `mvn finished but ${staging} has no kafka_2.13 jar; tail of ${mvnLog}:\n${logTail(mvnLog, 30)}`,
      );
    }
    fs.rmSync(libs, { recursive: true, force: true });
    fs.renameSync(staging, libs);
    fs.writeFileSync(path.join(cfg.kafkaHome, 'libs.complete'), `${pomHash()}\n`);
    timings.mvnMs = Date.now() - started;
    log(`kafka: ${jars.length} jars resolved in ${seconds(timings.mvnMs)} into ${libs}`);
  });
}

function kafkaClusterId() {
  // A cluster id is 16 bytes in URL-safe base64 without padding (org.apache.kafka.common.Uuid).
  return randomBytes(16).toString('base64url');
}

const services = {
  kafka: {
    marker: 'kafka.Kafka',
    startTimeoutMs: 180_000,
    stopTimeoutMs: 30_000,
    ports: (cfg) => [cfg.ports.kafka, cfg.ports.kafkaController],
    portEnvVars: ['CONVERGE_KAFKA_PORT', 'CONVERGE_KAFKA_CONTROLLER_PORT'],
    url: (cfg) => `${HOST}:${cfg.ports.kafka}`,
    healthy: (cfg) => kafkaHealthy(cfg.ports.kafka),
    ready: (cfg) => kafkaGroupCoordinatorReady(cfg.ports.kafka),
    tools(cfg) {
      const tools = javaPath() ? [] : ['java'];
      if (!kafkaLibsReady(cfg) && !mvnPath()) tools.push('mvn');
      return tools;
    },
    async prepare(cfg, dir, log, timings) {
      await ensureKafkaLibs(cfg, log, timings);
      const dataDir = path.join(dir, 'data');
      const properties = path.join(dir, 'server.properties');
      const template = fs.readFileSync(path.join(KAFKA_TEMPLATE_DIR, 'server.properties'), 'utf8');
      const values = {
        HOST,
        PORT: String(cfg.ports.kafka),
        CONTROLLER_PORT: String(cfg.ports.kafkaController),
        DATA_DIR: dataDir,
      };
      fs.writeFileSync(
        properties,
        template.replace(/@([A-Z_]+)@/g, (whole, key) => values[key] ?? whole),
      );
      if (!fs.existsSync(path.join(dataDir, 'meta.properties'))) {
        const started = Date.now();
        const formatLog = path.join(dir, 'format.log');
        const out = fs.openSync(formatLog, 'w');
        const result = spawnSync(
          javaPath(),
          [
            '-Xmx256m',
            `-Dlog4j.configuration=file:${path.join(KAFKA_TEMPLATE_DIR, 'log4j.properties')}`,
            '-cp',
            `${path.join(cfg.kafkaHome, 'libs')}/*`,
            'kafka.tools.StorageTool',
            'format',
            '--ignore-formatted',
            '-t',
            kafkaClusterId(),
            '-c',
            properties,
          ],
          { stdio: ['ignore', out, out], timeout: 120_000 },
        );
        fs.closeSync(out);
        if (result.status !== 0) {
          throw new Error(
            `kafka.tools.StorageTool format exited with ${result.status ?? result.signal ?? result.error}; ` +
              `tail of ${formatLog}:\n${logTail(formatLog, 30)}`,
          );
        }
        timings.formatMs = Date.now() - started;
        log(`kafka: formatted ${dataDir} in ${seconds(timings.formatMs)}`);
      }
      return {
        command: javaPath(),
        args: [
          `-Xms${cfg.kafkaHeap}`,
          `-Xmx${cfg.kafkaHeap}`,
          '-server',
          '-XX:+UseG1GC',
          '-XX:MaxGCPauseMillis=20',
          '-XX:InitiatingHeapOccupancyPercent=35',
          '-XX:+ExplicitGCInvokesConcurrent',
          '-XX:+ExitOnOutOfMemoryError',
          '-Djava.awt.headless=true',
          `-Dlog4j.configuration=file:${path.join(KAFKA_TEMPLATE_DIR, 'log4j.properties')}`,
          `-Dkafka.logs.dir=${dir}`,
          '-cp',
          `${path.join(cfg.kafkaHome, 'libs')}/*`,
          'kafka.Kafka',
          properties,
        ],
        readyLogLine: 'Kafka Server started',
      };
    },
  },

  redis: {
    marker: 'redis-server',
    startTimeoutMs: 30_000,
    stopTimeoutMs: 15_000,
    ports: (cfg) => [cfg.ports.redis],
    portEnvVars: ['CONVERGE_REDIS_PORT'],
    url: (cfg) => `redis://${HOST}:${cfg.ports.redis}`,
    healthy: (cfg) => redisHealthy(cfg.ports.redis),
    tools: () => (findExecutable('redis-server', process.env.CONVERGE_REDIS_BIN) ? [] : ['redis-server']),
    async prepare(cfg, dir) {
      const dataDir = path.join(dir, 'data');
      fs.mkdirSync(dataDir, { recursive: true });
      return {
        command: findExecutable('redis-server', process.env.CONVERGE_REDIS_BIN),
        args: [
          '--bind',
          HOST,
          '--port',
          String(cfg.ports.redis),
          '--dir',
          dataDir,
          '--save',
          '',
          '--appendonly',
          'yes',
          '--daemonize',
          'no',
          '--logfile',
          '',
        ],
      };
    },
  },

  tsdb: {
    marker: 'victoria-metrics',
    startTimeoutMs: 30_000,
    stopTimeoutMs: 15_000,
    ports: (cfg) => [cfg.ports.tsdb],
    portEnvVars: ['CONVERGE_TSDB_PORT'],
    url: (cfg) => `http://${HOST}:${cfg.ports.tsdb}`,
    healthy: (cfg) => httpHealthy(`http://${HOST}:${cfg.ports.tsdb}/health`, 'OK'),
    tools: () =>
      findExecutable('victoria-metrics', process.env.CONVERGE_TSDB_BIN) ? [] : ['victoria-metrics'],
    async prepare(cfg, dir) {
      const dataDir = path.join(dir, 'data');
      fs.mkdirSync(dataDir, { recursive: true });
      return {
        command: findExecutable('victoria-metrics', process.env.CONVERGE_TSDB_BIN),
        args: [
          `-httpListenAddr=${HOST}:${cfg.ports.tsdb}`,
          `-storageDataPath=${dataDir}`,
          // Fixtures carry timestamps from 2024; the default retention (1 month) would drop them.
          '-retentionPeriod=100y',
          // Converge delivers at-least-once: a batch written but not committed before a crash is
          // written again. One sample per series and millisecond makes the redelivery invisible
          // (InfluxDB overwrites a point with the same series and timestamp by itself).
          '-dedup.minScrapeInterval=1ms',
        ],
      };
    },
  },

  alertmanager: {
    marker: 'alertmanager',
    startTimeoutMs: 30_000,
    stopTimeoutMs: 15_000,
    ports: (cfg) => [cfg.ports.alertmanager],
    portEnvVars: ['CONVERGE_ALERTMANAGER_PORT'],
    url: (cfg) => `http://${HOST}:${cfg.ports.alertmanager}`,
    healthy: (cfg) => httpHealthy(`http://${HOST}:${cfg.ports.alertmanager}/-/ready`),
    tools: () =>
      findExecutable('prometheus-alertmanager', process.env.CONVERGE_ALERTMANAGER_BIN)
        ? []
        : ['prometheus-alertmanager'],
    async prepare(cfg, dir) {
      const dataDir = path.join(dir, 'data');
      fs.mkdirSync(dataDir, { recursive: true });
      const configFile = path.join(dir, 'alertmanager.yml');
      fs.writeFileSync(
        configFile,
        [
          '# Written by scripts/services.mjs: alerts are stored and queryable, never sent anywhere.',
          'route:',
          "  receiver: 'null'",
          'receivers:',
          "  - name: 'null'",
          '',
        ].join('\n'),
      );
      return {
        command: findExecutable('prometheus-alertmanager', process.env.CONVERGE_ALERTMANAGER_BIN),
        args: [
          `--config.file=${configFile}`,
          `--storage.path=${dataDir}`,
          `--web.listen-address=${HOST}:${cfg.ports.alertmanager}`,
          // An empty address turns off gossip clustering (it would listen on 0.0.0.0:9094).
          '--cluster.listen-address=',
        ],
      };
    },
  },
};

function serviceFiles(cfg, name) {
  const dir = path.join(cfg.root, name);
  return { dir, pidFile: path.join(dir, `${name}.pid`), logFile: path.join(dir, `${name}.log`) };
}

function checkNames(names) {
  const list = names && names.length > 0 ? [...new Set(names)] : [...serviceNames];
  const unknown = list.filter((n) => !serviceNames.includes(n));
  if (unknown.length > 0) {
    throw new Error(`unknown service ${unknown.join(', ')}; known: ${serviceNames.join(', ')}`);
  }
  return list;
}

export class ServiceStartError extends Error {
  constructor(name, reason, logFile, logOffset = 0) {
    const envVar = serviceEnvVars[name];
    super(
      `${name} could not be started: ${reason}\n` +
        (logFile ? `--- tail of ${logFile} ---\n${logTail(logFile, 40, logOffset)}\n---\n` : '') +
        `To use an existing ${name} instead, set ${envVar} (e.g. ${envVar}=${exampleValue(name)}).`,
    );
    this.name = 'ServiceStartError';
    this.service = name;
    this.logFile = logFile;
  }
}

function exampleValue(name) {
  return {
    kafka: 'host:9092',
    redis: 'redis://host:6379',
    tsdb: 'http://host:8428',
    alertmanager: 'http://host:9093',
  }[name];
}

async function waitUntilReady(name, cfg, { child, logFile, logOffset, readyLogLine, timeoutMs }) {
  const svc = services[name];
  const started = Date.now();
  let exited = null;
  child?.once('exit', (code, signal) => {
    exited = signal ? `signal ${signal}` : `code ${code}`;
  });
  for (let delay = 50; ; delay = Math.min(delay * 2, 250)) {
    if (exited !== null) {
      throw new ServiceStartError(
        name,
        `the process exited with ${exited} before it was ready`,
        logFile,
        logOffset,
      );
    }
    const logReady = !readyLogLine || logContainsSince(logFile, logOffset, readyLogLine);
    if (logReady && (await svc.healthy(cfg)) && (!svc.ready || (await svc.ready(cfg)))) {
      return Date.now() - started;
    }
    if (Date.now() - started > timeoutMs) {
      throw new ServiceStartError(
        name,
        `not ready after ${seconds(timeoutMs)} (${readyLogLine ? `waiting for "${readyLogLine}" in the log and ` : ''}` +
          `a health check${svc.ready ? ' and the group coordinator' : ''} on ${svc.url(cfg)})`,
        logFile,
        logOffset,
      );
    }
    await sleep(delay);
  }
}

async function startOne(name, cfg, log) {
  const svc = services[name];
  const { dir, pidFile, logFile } = serviceFiles(cfg, name);
  const timeoutMs = cfg.timeoutMs ?? svc.startTimeoutMs;
  const started = Date.now();
  const timings = {};
  const result = (fields) => ({
    name,
    port: svc.ports(cfg)[0],
    url: svc.url(cfg),
    envVar: serviceEnvVars[name],
    logFile,
    totalMs: Date.now() - started,
    ...timings,
    ...fields,
  });
  return withLock(path.join(cfg.root, `${name}.lock`), 30 * 60_000, async () => {
    fs.mkdirSync(dir, { recursive: true });
    const previousPid = readPid(pidFile);
    const ourPid = processAlive(previousPid, svc.marker) ? previousPid : null;
    if (await svc.healthy(cfg)) {
      log(
        `${name}: already up at ${svc.url(cfg)}${ourPid ? ` (pid ${ourPid})` : ' (not started by this script)'}`,
      );
      return result({ pid: ourPid, alreadyUp: true, managed: ourPid !== null });
    }
    if (ourPid) {
      // Started earlier (maybe by a run that was interrupted) but not answering yet: give it the
      // usual time before calling it hung.
      log(`${name}: pid ${ourPid} is running but not ready yet; waiting`);
      timings.readyMs = await waitUntilReady(name, cfg, { logFile, logOffset: 0, timeoutMs });
      return result({ pid: ourPid, alreadyUp: true, managed: true });
    }
    fs.rmSync(pidFile, { force: true });
    for (const [i, port] of svc.ports(cfg).entries()) {
      if (await portOpen(port)) {
        throw new ServiceStartError(
          name,
          `port ${port} on ${HOST} is taken by another program that does not answer as ${name}; ` +
            `free it or choose another port with ${svc.portEnvVars[i]}`,
        );
      }
    }
    let launch;
    try {
      launch = await svc.prepare(cfg, dir, log, timings);
    } catch (error) {
      if (error instanceof ServiceStartError) throw error;
      throw new ServiceStartError(name, error.message);
    }
    fs.appendFileSync(
      logFile,
      `\n--- scripts/services.mjs: starting ${name} at ${new Date().toISOString()} ---\n`,
    );
    const logOffset = fileSize(logFile);
    const out = fs.openSync(logFile, 'a');
    const spawnedAt = Date.now();
    let child;
    try {
      child = spawn(launch.command, launch.args, { cwd: dir, detached: true, stdio: ['ignore', out, out] });
    } finally {
      fs.closeSync(out);
    }
    const spawnError = new Promise((_, reject) =>
      child.once('error', (error) =>
        reject(new ServiceStartError(name, `cannot run ${launch.command}: ${error.message}`)),
      ),
    );
    child.unref();
    if (child.pid) fs.writeFileSync(pidFile, `${child.pid}\n`);
    await Promise.race([
      spawnError,
      waitUntilReady(name, cfg, {
        child,
        logFile,
        logOffset,
        readyLogLine: launch.readyLogLine,
        timeoutMs,
      }),
    ]).catch(async (error) => {
      await stopPid(child.pid, svc.marker, 5000);
      fs.rmSync(pidFile, { force: true });
      throw error;
    });
    timings.readyMs = Date.now() - spawnedAt;
    log(`${name}: up at ${svc.url(cfg)} (pid ${child.pid}), ready ${seconds(timings.readyMs)} after launch`);
    return result({ pid: child.pid, alreadyUp: false, managed: true });
  });
}

async function stopPid(pid, marker, timeoutMs) {
  if (!processAlive(pid, marker)) return 'not running';
  try {
    process.kill(pid, 'SIGTERM');
  } catch {}
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!processAlive(pid, marker)) return 'stopped';
    await sleep(100);
  }
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {}
  }
  for (let i = 0; i < 50 && processAlive(pid, marker); i++) await sleep(100);
  return 'killed';
}

async function stopOne(name, cfg, log) {
  const svc = services[name];
  const { pidFile } = serviceFiles(cfg, name);
  return withLock(path.join(cfg.root, `${name}.lock`), 5 * 60_000, async () => {
    const started = Date.now();
    const pid = readPid(pidFile);
    if (!processAlive(pid, svc.marker)) {
      fs.rmSync(pidFile, { force: true });
      const foreign = await svc.healthy(cfg);
      log(
        foreign
          ? `${name}: up at ${svc.url(cfg)} but not started by this script (no pid file); left alone`
          : `${name}: not running`,
      );
      return { name, pid: null, outcome: foreign ? 'foreign' : 'not running', ms: Date.now() - started };
    }
    const outcome = await stopPid(pid, svc.marker, svc.stopTimeoutMs);
    fs.rmSync(pidFile, { force: true });
    const ms = Date.now() - started;
    log(
      `${name}: ${outcome === 'killed' ? `did not stop within ${seconds(svc.stopTimeoutMs)} of SIGTERM; killed` : 'stopped'} (pid ${pid}, ${seconds(ms)})`,
    );
    return { name, pid, outcome, ms };
  });
}

// ---------------------------------------------------------------------------------------------
// Public API

const stderrLog = (message) => process.stderr.write(`${message}\n`);

/**
 * Starts the named services (all when none are named) and waits until they are ready. A service
 * that is already up is left as it is. Rejects with an Error naming every service that failed
 * (with the tail of its log and the env var that points the tests elsewhere).
 */
export async function start(names, { log = stderrLog } = {}) {
  const list = checkNames(names);
  const cfg = config();
  fs.mkdirSync(cfg.root, { recursive: true });
  const missing = [...new Set(list.flatMap((name) => services[name].tools(cfg)))];
  if (missing.length > 0) {
    aptInstall(missing, cfg.root, log);
    const still = [...new Set(list.flatMap((name) => services[name].tools(cfg)))];
    if (still.length > 0) throw missingToolError(still, 'still missing after apt-get install');
  }
  const settled = await Promise.allSettled(list.map((name) => startOne(name, cfg, log)));
  const results = {};
  const failures = [];
  settled.forEach((outcome, i) => {
    const name = list[i];
    if (outcome.status === 'fulfilled') results[name] = outcome.value;
    else
      failures.push(
        outcome.reason instanceof ServiceStartError
          ? outcome.reason
          : new ServiceStartError(name, outcome.reason?.message),
      );
  });
  if (failures.length > 0) {
    const error = new Error(failures.map((f) => f.message).join('\n\n'));
    error.failures = failures;
    error.results = results;
    throw error;
  }
  return results;
}

/** Stops the named services this script started (SIGTERM, then SIGKILL). Never fails for a stopped one. */
export async function stop(names, { log = stderrLog } = {}) {
  const list = checkNames(names);
  const cfg = config();
  const results = await Promise.all(list.map((name) => stopOne(name, cfg, log)));
  return Object.fromEntries(results.map((r) => [r.name, r]));
}

/** One entry per service: whether it answers its health check, and the pid when this script started it. */
export async function status(names) {
  const list = checkNames(names);
  const cfg = config();
  return Promise.all(
    list.map(async (name) => {
      const svc = services[name];
      const { pidFile, logFile } = serviceFiles(cfg, name);
      const pid = readPid(pidFile);
      const alive = processAlive(pid, svc.marker);
      return {
        name,
        up: await svc.healthy(cfg),
        pid: alive ? pid : null,
        managed: alive,
        port: svc.ports(cfg)[0],
        url: svc.url(cfg),
        envVar: serviceEnvVars[name],
        logFile,
      };
    }),
  );
}

/** `KAFKA_BROKERS=127.0.0.1:39092`-style lines for the named services. */
export function envLines(names) {
  const cfg = config();
  return checkNames(names).map((name) => `${serviceEnvVars[name]}=${services[name].url(cfg)}`);
}

// ---------------------------------------------------------------------------------------------
// CLI

async function main(argv) {
  const [command, ...names] = argv;
  const usage = `usage: node scripts/services.mjs start|stop|status [${serviceNames.join('|')} ...]`;
  if (!['start', 'stop', 'status'].includes(command)) {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  try {
    checkNames(names);
  } catch (error) {
    process.stderr.write(`${error.message}\n${usage}\n`);
    return 2;
  }
  try {
    if (command === 'start') {
      const started = Date.now();
      await start(names);
      stderrLog(`all ready in ${seconds(Date.now() - started)}`);
      process.stdout.write(`${envLines(names).join('\n')}\n`);
    } else if (command === 'stop') {
      await stop(names);
    } else {
      for (const s of await status(names)) {
        process.stdout.write(
          `${s.name.padEnd(13)}${(s.up ? 'up' : 'down').padEnd(6)}` +
            `${(s.pid ? `pid ${s.pid}` : s.up ? 'not ours' : '-').padEnd(12)}port ${String(s.port).padEnd(7)}${s.url}\n`,
        );
      }
    }
    return 0;
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    return 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let finished = false;
  process.once('beforeExit', () => {
    if (!finished) {
      process.stderr.write('scripts/services.mjs: stopped waiting with nothing left to wait on (a bug)\n');
      process.exitCode = 1;
    }
  });
  main(process.argv.slice(2)).then((code) => {
    finished = true;
    process.exitCode = code;
  });
}
