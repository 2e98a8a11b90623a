// Reads schema.sql into numbered steps (pure) and applies the steps a database
// has not seen yet, recording each in schema_version. The rules a step must
// follow are written at the top of schema.sql.

export interface SchemaStep {
  version: number;
  description: string;
  statements: string[];
}

/** The part of a connection the schema needs; the mariadb connector fits it. */
export interface SqlRunner {
  query(sql: string, values?: unknown[]): Promise<unknown>;
}

export interface SchemaResult {
  /** version found before this start (0: empty database) */
  from: number;
  /** version after it */
  to: number;
  applied: number[];
}

export const SCHEMA_FILE = new URL('../../schema.sql', import.meta.url);

const STEP_MARK = /^--\s*@step\s+(\d+)\s*:?\s*(.*)$/;

/** Splits schema.sql into steps; throws on a file that breaks its own rules. */
export function parseSchema(text: string): SchemaStep[] {
  const steps: SchemaStep[] = [];
  let body: string[] | null = null;
  const finish = () => {
    const step = steps[steps.length - 1];
    if (!step || !body) return;
    step.statements = body
      .join('\n')
      .split(/;[ \t]*$/m)
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    if (step.statements.length === 0) throw new Error(`schema step ${step.version} has no statements`);
  };
  for (const line of text.split(/\r?\n/)) {
    const mark = STEP_MARK.exec(line.trim());
    if (mark) {
      finish();
      const version = Number(mark[1]);
      if (version !== steps.length + 1) throw new Error(`schema steps must be numbered 1, 2, 3... in order; found step ${version} after ${steps.length}`);
      steps.push({ version, description: mark[2]!.trim() || `step ${version}`, statements: [] });
      body = [];
    } else if (line.trim().startsWith('--') || line.trim() === '') {
      continue;
    } else if (body) {
      body.push(line);
    } else {
      throw new Error('schema.sql has a statement before its first "-- @step N:" line');
    }
  }
  finish();
  if (steps.length === 0) throw new Error('schema.sql has no "-- @step N:" sections');
  return steps;
}

/**
 * Applies the steps above the database's version under a named lock. DDL commits
 * at once in MariaDB, so a step is recorded only after all its statements ran.
 */
export async function applySchema(sql: SqlRunner, steps: readonly SchemaStep[]): Promise<SchemaResult> {
  const lockRows = (await sql.query("SELECT GET_LOCK(CONCAT('rooms_schema.', DATABASE()), 30) AS got")) as { got: unknown }[];
  if (Number(lockRows[0]?.got) !== 1) throw new SchemaLockError();
  try {
    const from = await currentVersion(sql);
    const applied: number[] = [];
    for (const step of steps) {
      if (step.version <= from) continue;
      for (const statement of step.statements) await sql.query(statement);
      await sql.query('INSERT INTO schema_version (version, description) VALUES (?, ?)', [step.version, step.description.slice(0, 200)]);
      applied.push(step.version);
    }
    return { from, to: Math.max(from, ...applied), applied };
  } finally {
    await sql.query("SELECT RELEASE_LOCK(CONCAT('rooms_schema.', DATABASE()))");
  }
}

async function currentVersion(sql: SqlRunner): Promise<number> {
  try {
    const rows = (await sql.query('SELECT COALESCE(MAX(version), 0) AS v FROM schema_version')) as { v: unknown }[];
    return Number(rows[0]?.v ?? 0);
  } catch (err) {
    if ((err as { errno?: unknown }).errno === 1146) return 0; // ER_NO_SUCH_TABLE: a fresh database
    throw err;
  }
}

export class SchemaLockError extends Error {
  constructor() {
    super('another server has held the schema lock for 30 s (it is applying schema.sql, or hung doing so)');
  }
}
