// The connector's errors sorted into what the store does with them: an outage
// (retry later), bad data (never retried), or a start that must stop with a message
// saying what to fix.

import type { MariadbTarget } from './mariadb-url';
import { SchemaLockError } from './schema';
import { StoreStartError } from './types';

// Errors that mean "cannot reach or use the server right now": retry later.
// Node system errors (errno < 0) are handled apart: all of them are network trouble.
const OUTAGE_CODES = new Set([
  'ER_CONNECTION_ALREADY_CLOSED',
  'ER_CMD_NOT_EXECUTED_DESTROYED',
  'ER_SOCKET_UNEXPECTED_CLOSE',
  'ER_CONNECTION_TIMEOUT',
  'ER_CMD_CONNECTION_CLOSED',
  'ER_SOCKET',
  'ER_SOCKET_TIMEOUT',
  'ER_POOL_ALREADY_CLOSED',
  'ER_GET_CONNECTION_TIMEOUT',
  'ER_ADD_CONNECTION_CLOSED_POOL',
  'ER_CLOSING_POOL',
  'ER_INITIAL_TIMEOUT_ERROR',
  'ER_PING_TIMEOUT',
  'ER_POOL_NOT_INITIALIZED',
  'ER_POOL_NO_CONNECTION',
]);
const OUTAGE_SERVER_ERRNOS = new Set([
  1040, // too many connections
  1053, // server shutdown in progress
  1205, // lock wait timeout
  1213, // deadlock
  1290, // read-only (a replica during fail-over)
  1927, // connection killed
  2002, 2003, 2006, 2013, // client-side "can't connect" / "gone away" / "lost connection"
  4031, // disconnected for inactivity
]);

interface ErrorShape {
  code?: unknown;
  errno?: unknown;
  sqlState?: unknown;
}

/** True for an error that retrying can fix (network, server restarting, lock trouble). */
export function isOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const { code, errno, sqlState } = err as ErrorShape;
  if (typeof errno === 'number' && errno < 0) return true;
  if (typeof code === 'string' && (OUTAGE_CODES.has(code) || /^E[A-Z]+$/.test(code))) return true;
  if (typeof errno === 'number' && OUTAGE_SERVER_ERRNOS.has(errno)) return true;
  return typeof sqlState === 'string' && sqlState.startsWith('08');
}

/** A rejected value (SQLSTATE class 22 data exception, 23 constraint) is never retried. */
export function isDataError(err: unknown): boolean {
  const { sqlState } = err as ErrorShape;
  return !isOutage(err) && typeof sqlState === 'string' && (sqlState.startsWith('22') || sqlState.startsWith('23'));
}

/** Outages pass through unchanged (the caller retries); the rest becomes a message for the operator of t. */
export function startError(err: unknown, t: MariadbTarget, doing: string): unknown {
  if (err instanceof StoreStartError || isOutage(err)) return err;
  const grant = `GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON \`${t.database}\`.* TO '${t.user}'@'<host>'`;
  const where = `MariaDB at ${t.host}:${t.port}`;
  const errno = (err as ErrorShape).errno;
  let why: string;
  if (err instanceof SchemaLockError) why = `${where}: ${err.message}. Try again once the other server has started.`;
  else if (errno === 1045 || errno === 1698)
    why = `${where} refused the login of user "${t.user}" (wrong user or password). Fix the user and password in MARIADB_URL.`;
  else if (errno === 1130) why = `${where} does not let user "${t.user}" connect from this host. Create the account for this host or use another user.`;
  else if (errno === 1044)
    why = `MariaDB user "${t.user}" has no access to database "${t.database}". As an administrator, run: ${grant}; or use another user in MARIADB_URL.`;
  else if (errno === 1142 || errno === 1143 || errno === 1227 || errno === 1370)
    why = `MariaDB user "${t.user}" lacks a privilege on database "${t.database}" needed while ${doing}. As an administrator, run: ${grant};`;
  else why = `${where} failed while ${doing} for database "${t.database}".`;
  return new StoreStartError(`${why} The server did not start; nothing stored was changed. (MariaDB said: ${shortMessage(err)})`);
}

/** The connector's message without its "(conn:12, no: 1045, SQLState: 28000)" prefix, one line. */
export function shortMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.message.replace(/^\(conn:[^)]*\)\s*/, '').split('\n')[0]!;
}
