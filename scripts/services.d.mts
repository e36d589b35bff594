// Types of scripts/services.mjs for TypeScript callers (the test harness).

export type ServiceName = 'kafka' | 'redis' | 'tsdb' | 'alertmanager';
export type ServiceEnvVar = 'KAFKA_BROKERS' | 'REDIS_URL' | 'TSDB_URL' | 'ALERTMANAGER_URL';

export declare const serviceNames: readonly ServiceName[];
export declare const serviceEnvVars: Readonly<Record<ServiceName, ServiceEnvVar>>;

export interface ServicesConfig {
  root: string;
  kafkaHome: string;
  kafkaHeap: string;
  timeoutMs: number | undefined;
  ports: { kafka: number; kafkaController: number; redis: number; tsdb: number; alertmanager: number };
}

export interface StartResult {
  name: ServiceName;
  pid: number | null;
  port: number;
  /** `127.0.0.1:39092` for Kafka, `redis://...` for Redis, `http://...` for the others. */
  url: string;
  envVar: ServiceEnvVar;
  logFile: string;
  /** It answered its health check before anything was launched. */
  alreadyUp: boolean;
  /** This script's pid file names the running process, so stop() can stop it. */
  managed: boolean;
  totalMs: number;
  readyMs?: number;
  mvnMs?: number;
  formatMs?: number;
}

export interface StopResult {
  name: ServiceName;
  pid: number | null;
  outcome: 'stopped' | 'killed' | 'not running' | 'foreign';
  ms: number;
}

export interface ServiceStatus {
  name: ServiceName;
  up: boolean;
  pid: number | null;
  managed: boolean;
  port: number;
  url: string;
  envVar: ServiceEnvVar;
  logFile: string;
}

export interface LogOption {
  log?: (message: string) => void;
}

export declare class ServiceStartError extends Error {
  readonly service: ServiceName;
  readonly logFile: string | undefined;
}

/** Rejects with an Error whose `failures` holds one ServiceStartError per service that failed. */
export declare function start(
  names?: readonly ServiceName[],
  options?: LogOption,
): Promise<Partial<Record<ServiceName, StartResult>>>;
export declare function stop(
  names?: readonly ServiceName[],
  options?: LogOption,
): Promise<Partial<Record<ServiceName, StopResult>>>;
export declare function status(names?: readonly ServiceName[]): Promise<ServiceStatus[]>;
export declare function envLines(names?: readonly ServiceName[]): string[];
export declare function config(): ServicesConfig;
export declare function logTail(file: string, lines?: number): string;
