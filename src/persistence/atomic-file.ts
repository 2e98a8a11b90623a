// Writing a whole file so that a crash leaves either the old version or the new one,
// never a torn mix: temporary file, fsync, rename over the target, fsync of the folder.
// Shared by the embedded store (rooms.json) and the outage journal (pending-writes.json).

import { open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export class AtomicFile {
  private tempCounter = 0;

  constructor(
    private readonly dataDir: string,
    private readonly fileName: string,
  ) {}

  get path(): string {
    return join(this.dataDir, this.fileName);
  }

  private get tempPrefix(): string {
    return `${this.fileName}.tmp-`;
  }

  async write(text: string): Promise<void> {
    const temp = join(this.dataDir, `${this.tempPrefix}${process.pid}-${++this.tempCounter}`);
    try {
      const handle = await open(temp, 'w', 0o644);
      try {
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, this.path);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    }
    await this.syncDir();
  }

  /** Deletes the file (missing is fine), durably. */
  async remove(): Promise<void> {
    try {
      await unlink(this.path);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return;
      throw err;
    }
    await this.syncDir();
  }

  /** Temp files left by a crash mid-write; the file itself was never touched by them. */
  async removeStaleTemps(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dataDir);
    } catch {
      return;
    }
    await Promise.all(names.filter((n) => n.startsWith(this.tempPrefix)).map((n) => unlink(join(this.dataDir, n)).catch(() => undefined)));
  }

  /** A rename or unlink is durable only once the folder's entry is on disk. */
  private async syncDir(): Promise<void> {
    const dir = await open(this.dataDir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** The errno code of a file-system error, or its message. */
export function errorCode(err: unknown): string {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'string' ? c : (err as Error).message;
}
