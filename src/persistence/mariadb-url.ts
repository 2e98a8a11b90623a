// MARIADB_URL: parsed into the target the room store and the history store connect
// to, and named for logs (with the account) and for the journal (the database alone).
// A password never appears in a message.

import { StoreStartError } from './types';

export interface MariadbTarget {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
}

const URL_SHAPE = 'mariadb://USER[:PASSWORD]@HOST[:PORT]/DATABASE';

/** Parses MARIADB_URL; errors never repeat the URL, which may hold a password. */
export function parseMariadbUrl(raw: string): MariadbTarget {
  const bad = (why: string) => new StoreStartError(`MARIADB_URL ${why}; expected ${URL_SHAPE}, e.g. mariadb://root@127.0.0.1:3306/rooms`);
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw bad('is not a URL');
  }
  if (url.protocol !== 'mariadb:' && url.protocol !== 'mysql:') throw bad(`has scheme "${url.protocol}" (must be mariadb: or mysql:)`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw bad('has no host');
  const port = url.port === '' ? 3306 : Number(url.port);
  let user: string;
  let password: string | undefined;
  try {
    user = decodeURIComponent(url.username);
    password = url.password === '' ? undefined : decodeURIComponent(url.password);
  } catch {
    throw bad('has a badly percent-encoded user or password');
  }
  if (!user) throw bad('has no user');
  const path = url.pathname.replace(/^\//, '');
  if (!path) throw bad('names no database');
  let database: string;
  try {
    database = decodeURIComponent(path);
  } catch {
    throw bad('has a badly percent-encoded database name');
  }
  // The name goes into CREATE DATABASE when it is missing, where identifiers
  // cannot be parameters: allow only what needs no quoting tricks.
  if (!/^[A-Za-z0-9_$-]{1,64}$/.test(database)) throw bad(`has database name "${database}" (use 1-64 of A-Z a-z 0-9 _ $ -)`);
  if (url.search || url.hash) throw bad('has options after the database name (none are supported)');
  return { host, port, user, password, database };
}

export function describeTarget(t: MariadbTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `mariadb ${t.user}@${host}:${t.port}/${t.database}`;
}

/** The database a target writes to, without the account: another user of the same database is the same store. */
export function identifyTarget(t: MariadbTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  return `mariadb ${host}:${t.port}/${t.database}`;
}
