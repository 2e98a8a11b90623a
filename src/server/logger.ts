// Structured logs: one JSON object per line on stdout, filtered by LOG_LEVEL.
// Message contents never go through here, except the learner's frame tracer.

import type { LogLevel } from '../settings';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** Lines that must always appear (the ready line is part of the contract). */
  always(event: string, fields?: LogFields): void;
  enabled(level: LogLevel): boolean;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (line) => process.stdout.write(line)): Logger {
  const threshold = RANK[level];
  const emit = (lvl: Exclude<LogLevel, 'silent'>, event: string, fields?: LogFields) => {
    write(`${JSON.stringify({ time: new Date().toISOString(), level: lvl, event, ...fields })}\n`);
  };
  const at = (lvl: Exclude<LogLevel, 'silent'>) => (event: string, fields?: LogFields) => {
    if (RANK[lvl] >= threshold) emit(lvl, event, fields);
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    always: (event, fields) => emit('info', event, fields),
    enabled: (lvl) => RANK[lvl] >= threshold,
  };
}
