// Every setting the server reads, with its default, its environment variable and
// its flag. One table drives parsing, validation and `--help`, so they cannot drift.

import { isIP } from 'node:net';

export interface Settings {
  host: string;
  port: number;
  mariadbUrl: string | undefined;
  dataDir: string;
  adminToken: string | undefined;
  echo: boolean;
  maxMessageBytes: number;
  maxHeaderBytes: number;
  headerTimeoutMs: number;
  pingIntervalMs: number;
  closeTimeoutMs: number;
  roomRetentionMs: number;
  maxBufferedBytes: number;
  maxConnections: number;
  maxConnectionsPerAddress: number;
  messagesPerSecond: number;
  messageBurst: number;
  joinsPerMinutePerAddress: number;
  joinBurst: number;
  /** Proxies (addresses and CIDR ranges) whose forwarding headers name the client; empty: none. */
  trustProxy: string[] | undefined;
  allowedOrigins: string[] | '*';
  traceFrames: boolean;
  logLevel: LogLevel;
  deflate: boolean;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  joinTokenSecret: string | undefined;
  joinTokenPublicKey: string | undefined;
  requireToken: boolean;
  historySize: number;
  historyTtlMs: number;
  redisUrl: string | undefined;
  cluster: string;
  workers: number;
  roomStore: string | undefined;
  historyMaxBytes: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

type Kind = 'string' | 'port' | 'count' | 'whole' | 'bytes' | 'duration' | 'switch' | 'level' | 'origins' | 'proxies';

interface SettingSpec {
  key: keyof Settings;
  env: string;
  flag: string;
  kind: Kind;
  fallback: string | undefined;
  help: string;
}

export const SETTINGS: readonly SettingSpec[] = [
  { key: 'port', env: 'PORT', flag: '--port', kind: 'port', fallback: '8080', help: 'TCP port; 0 picks a free one (the ready line says which)' },
  { key: 'host', env: 'HOST', flag: '--host', kind: 'string', fallback: '0.0.0.0', help: 'bind address' },
  { key: 'mariadbUrl', env: 'MARIADB_URL', flag: '--mariadb-url', kind: 'string', fallback: undefined, help: 'mariadb://user:pass@host:port/db; unset: the embedded file store' },
  { key: 'dataDir', env: 'DATA_DIR', flag: '--data-dir', kind: 'string', fallback: './data', help: 'folder of the embedded store (MARIADB_URL unset), and of the journal of writes owed to MariaDB during an outage' },
  { key: 'adminToken', env: 'ADMIN_TOKEN', flag: '--admin-token', kind: 'string', fallback: undefined, help: 'bearer token for /admin/rooms; unset: the endpoint answers 404' },
  { key: 'echo', env: 'ECHO', flag: '--echo', kind: 'switch', fallback: 'on', help: 'the /echo endpoint (on|off)' },
  { key: 'maxMessageBytes', env: 'MAX_MESSAGE_BYTES', flag: '--max-message-bytes', kind: 'bytes', fallback: '1048576', help: 'largest message accepted (its inflated size when compressed); larger closes with 1009' },
  { key: 'maxHeaderBytes', env: 'MAX_HEADER_BYTES', flag: '--max-header-bytes', kind: 'bytes', fallback: '8192', help: 'largest HTTP request head; larger is refused with 431' },
  { key: 'headerTimeoutMs', env: 'HEADER_TIMEOUT', flag: '--header-timeout', kind: 'duration', fallback: '10s', help: 'time allowed for the whole HTTP request head' },
  { key: 'pingIntervalMs', env: 'PING_INTERVAL', flag: '--ping-interval', kind: 'duration', fallback: '30s', help: 'idle time before the server pings; no answer within one more interval drops the peer' },
  { key: 'closeTimeoutMs', env: 'CLOSE_TIMEOUT', flag: '--close-timeout', kind: 'duration', fallback: '5s', help: 'time the peer has to answer a close frame' },
  { key: 'roomRetentionMs', env: 'ROOM_RETENTION', flag: '--room-retention', kind: 'duration', fallback: '24h', help: 'how long an empty room (and its owner) is kept before it is purged' },
  { key: 'maxBufferedBytes', env: 'MAX_BUFFERED_BYTES', flag: '--max-buffered-bytes', kind: 'bytes', fallback: '4194304', help: 'bytes queued to one slow receiver before it is dropped with 1008; also the most a join\'s replay (history=N, a resume) may send' },
  { key: 'maxConnections', env: 'MAX_CONNECTIONS', flag: '--max-connections', kind: 'count', fallback: '20000', help: 'total open connections; more are refused with 503' },
  { key: 'maxConnectionsPerAddress', env: 'MAX_CONNECTIONS_PER_ADDRESS', flag: '--max-connections-per-address', kind: 'count', fallback: '2000', help: 'open connections from one IP address; more are refused with 503' },
  { key: 'messagesPerSecond', env: 'MESSAGES_PER_SECOND', flag: '--messages-per-second', kind: 'count', fallback: '1000', help: 'sustained messages per connection per second (token bucket); more closes with 1008' },
  { key: 'messageBurst', env: 'MESSAGE_BURST', flag: '--message-burst', kind: 'count', fallback: '2000', help: 'burst size of that token bucket' },
  { key: 'joinsPerMinutePerAddress', env: 'JOINS_PER_MINUTE', flag: '--joins-per-minute', kind: 'count', fallback: '600', help: 'sustained WebSocket upgrades per client address per minute (the refill rate of a token bucket); past the burst, more are refused with 429 and Retry-After' },
  { key: 'joinBurst', env: 'JOIN_BURST', flag: '--join-burst', kind: 'count', fallback: '1000', help: 'upgrades one client address may make at once (the bucket size): covers everyone behind one NAT rejoining after a restart' },
  { key: 'trustProxy', env: 'TRUST_PROXY', flag: '--trust-proxy', kind: 'proxies', fallback: undefined, help: 'comma-separated addresses or CIDR ranges (IPv4, IPv6) of reverse proxies whose X-Forwarded-For / Forwarded header names the client; unset: those headers are ignored' },
  { key: 'allowedOrigins', env: 'ALLOWED_ORIGINS', flag: '--allowed-origins', kind: 'origins', fallback: 'same-host', help: 'comma-separated origins allowed to connect from a browser, or *; default: same host as the request' },
  { key: 'deflate', env: 'DEFLATE', flag: '--deflate', kind: 'switch', fallback: 'on', help: 'accept permessage-deflate (RFC 7692) when a client offers it (on|off)' },
  { key: 'tlsCert', env: 'TLS_CERT', flag: '--tls-cert', kind: 'string', fallback: undefined, help: 'PEM certificate file; with TLS_KEY the port serves wss:// and https:// (reloaded on SIGHUP)' },
  { key: 'tlsKey', env: 'TLS_KEY', flag: '--tls-key', kind: 'string', fallback: undefined, help: 'PEM private key file for TLS_CERT' },
  { key: 'joinTokenSecret', env: 'JOIN_TOKEN_SECRET', flag: '--join-token-secret', kind: 'string', fallback: undefined, help: 'HS256 key for join tokens (JWT), at least 32 bytes; prefer the variable to the flag (ps shows flags); reloaded on SIGHUP' },
  { key: 'joinTokenPublicKey', env: 'JOIN_TOKEN_PUBLIC_KEY', flag: '--join-token-public-key', kind: 'string', fallback: undefined, help: 'PEM file of an ES256 (P-256) or RS256 public key for join tokens, instead of the secret; reloaded on SIGHUP' },
  { key: 'requireToken', env: 'REQUIRE_TOKEN', flag: '--require-token', kind: 'switch', fallback: 'off', help: 'on: every room join needs a valid join token (a room secret alone is not enough); /echo is unaffected' },
  { key: 'historySize', env: 'HISTORY_SIZE', flag: '--history-size', kind: 'whole', fallback: '100', help: 'messages kept per room for resume and ?history=N; 0 turns history off' },
  { key: 'historyTtlMs', env: 'HISTORY_TTL', flag: '--history-ttl', kind: 'duration', fallback: '24h', help: 'longest a message is kept in the history' },
  { key: 'redisUrl', env: 'REDIS_URL', flag: '--redis-url', kind: 'string', fallback: undefined, help: 'redis://host:port/db; set: this process is one node of a cluster (every process with the same REDIS_URL and CLUSTER); unset: one process' },
  { key: 'cluster', env: 'CLUSTER', flag: '--cluster', kind: 'string', fallback: 'rooms', help: 'cluster name: prefix of every Redis key and channel, so clusters can share one Redis (1-64 of A-Z a-z 0-9 _ . -)' },
  { key: 'workers', env: 'WORKERS', flag: '--workers', kind: 'count', fallback: '1', help: 'server processes npm start runs on the same port; more than 1 needs REDIS_URL and MARIADB_URL or ROOM_STORE=redis' },
  { key: 'roomStore', env: 'ROOM_STORE', flag: '--room-store', kind: 'string', fallback: undefined, help: 'file | mariadb | redis (room records in the Redis at REDIS_URL); default: mariadb with MARIADB_URL, else file' },
  { key: 'historyMaxBytes', env: 'HISTORY_MAX_BYTES', flag: '--history-max-bytes', kind: 'bytes', fallback: '256m', help: 'memory all rooms\' kept messages may take together; over it the oldest anywhere are dropped first' },
  { key: 'traceFrames', env: 'TRACE_FRAMES', flag: '--trace-frames', kind: 'switch', fallback: 'off', help: 'log every frame in and out (for learners; logs message bytes)' },
  { key: 'logLevel', env: 'LOG_LEVEL', flag: '--log-level', kind: 'level', fallback: 'info', help: 'debug | info | warn | error | silent' },
];

export type SettingsResult = { ok: true; settings: Settings } | { ok: false; error: string } | { ok: false; help: string };

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kib: 1024, m: 1 << 20, mib: 1 << 20, g: 1 << 30, gib: 1 << 30 };

function convert(spec: SettingSpec, raw: string): { value: unknown } | { error: string } {
  const bad = (why: string) => ({ error: `${spec.env}/${spec.flag}: ${JSON.stringify(raw)} ${why}` });
  switch (spec.kind) {
    case 'string':
      return { value: raw };
    case 'port': {
      const n = Number(raw);
      return Number.isInteger(n) && n >= 0 && n <= 65535 ? { value: n } : bad('is not a port (0-65535)');
    }
    case 'count': {
      const n = Number(raw);
      return Number.isInteger(n) && n > 0 ? { value: n } : bad('is not a positive whole number');
    }
    case 'whole': {
      const n = Number(raw);
      return raw.trim() !== '' && Number.isSafeInteger(n) && n >= 0 ? { value: n } : bad('is not a whole number (0 or more)');
    }
    case 'bytes': {
      const m = /^(\d+)\s*([a-z]*)$/i.exec(raw.trim());
      const unit = m ? BYTE_UNITS[m[2]!.toLowerCase()] : undefined;
      return m && unit !== undefined && Number(m[1]) > 0 ? { value: Number(m[1]) * unit } : bad('is not a size (e.g. 1048576, 64k, 1m)');
    }
    case 'duration': {
      const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(raw.trim());
      return m ? { value: Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 's']!) } : bad('is not a duration (e.g. 500ms, 30s, 5m, 24h)');
    }
    case 'switch': {
      const v = raw.toLowerCase();
      if (['1', 'on', 'true', 'yes', ''].includes(v)) return { value: true };
      if (['0', 'off', 'false', 'no'].includes(v)) return { value: false };
      return bad('is not on/off');
    }
    case 'level':
      return ['debug', 'info', 'warn', 'error', 'silent'].includes(raw) ? { value: raw } : bad('is not a log level');
    case 'proxies': {
      const entries = raw.split(',').map((e) => e.trim()).filter(Boolean);
      const wrong = entries.find((e) => !isAddressOrRange(e));
      return wrong === undefined ? { value: entries } : bad(`has ${JSON.stringify(wrong)}, not an IP address or CIDR range`);
    }
    case 'origins': {
      if (raw.trim() === '*') return { value: '*' };
      if (raw.trim() === 'same-host') return { value: [] };
      return { value: raw.split(',').map((o) => o.trim().toLowerCase()).filter(Boolean) };
    }
  }
}

function isAddressOrRange(entry: string): boolean {
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return false;
  if (slash === -1) return true;
  const bits = entry.slice(slash + 1);
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/** Builds settings from flags (first), then the environment, then defaults. */
export function parseSettings(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): SettingsResult {
  const fromFlags = new Map<SettingSpec, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return { ok: false, help: helpText() };
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const spec = SETTINGS.find((s) => s.flag === name);
    if (!spec) return { ok: false, error: `unknown argument ${JSON.stringify(arg)} (see --help)` };
    if (eq !== -1) fromFlags.set(spec, arg.slice(eq + 1));
    else if (spec.kind === 'switch' && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--'))) fromFlags.set(spec, 'on');
    else if (argv[i + 1] === undefined) return { ok: false, error: `${spec.flag} needs a value` };
    else fromFlags.set(spec, argv[++i]!);
  }
  const out: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    const raw = fromFlags.get(spec) ?? env[spec.env] ?? spec.fallback;
    if (raw === undefined || (raw === '' && spec.kind === 'string')) {
      out[spec.key] = undefined;
      continue;
    }
    const converted = convert(spec, raw);
    if ('error' in converted) return { ok: false, error: converted.error };
    out[spec.key] = converted.value;
  }
  return { ok: true, settings: out as unknown as Settings };
}

/** Defaults with overrides: what tests and embedders start from. */
export function defaultSettings(overrides: Partial<Settings> = {}): Settings {
  const parsed = parseSettings([], {});
  if (!parsed.ok) throw new Error('built-in defaults do not parse');
  return { ...parsed.settings, ...overrides };
}

export function helpText(): string {
  const rows = SETTINGS.map((s) => `  ${`${s.flag} / ${s.env}`.padEnd(58)} ${s.help}${s.fallback !== undefined ? ` (default ${s.fallback})` : ''}`);
  return ['Usage: npm start -- [flags]   (each flag also reads its environment variable)', '', ...rows, '  --help'.padEnd(60) + ' this text', ''].join('\n');
}
