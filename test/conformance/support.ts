// Shared setup for the conformance files: one server per file, the assertions
// every case uses (an exact echo, an exact close code), and the check that the
// server still serves everyone else after whatever the file threw at it.

import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { OP, RawClient, closeBody, destroyAllClients, describeFrames, text, type DecodedFrame } from '../helpers/raw-client';
import { startTestServer, type TestServer } from '../helpers/test-server';
import type { Settings } from '../../src/settings';

export interface Harness {
  /** The port of the file's server (valid once `before` ran). */
  readonly port: number;
  readonly ts: TestServer;
}

/**
 * Starts a server before the file's tests and stops it after them; every client a
 * test opened is destroyed after that test. A bystander echo connection is opened
 * first and kept for the whole file, for `assertStillServing`.
 */
export function useServer<T>(t: Test<T>, overrides: Partial<Settings> = {}): Harness {
  let ts: TestServer | null = null;
  const harness: Harness = {
    get port() {
      if (ts === null) throw new Error('server not started');
      return ts.port;
    },
    get ts() {
      if (ts === null) throw new Error('server not started');
      return ts;
    },
  };
  t.before(async () => {
    ts = await startTestServer(overrides);
    bystanders.set(harness, await openBystander(ts.port));
  });
  t.after.each(() => destroyAllClients(bystanders.get(harness)));
  t.after(async () => {
    bystanders.get(harness)?.destroy();
    destroyAllClients();
    await ts?.stop();
  });
  return harness;
}

const bystanders = new Map<Harness, RawClient>();

async function openBystander(port: number): Promise<RawClient> {
  const client = await RawClient.echo(port);
  client.send(text('hello from the bystander'));
  assertFrame(await client.frame(), OP.text, 'hello from the bystander');
  return client;
}

/** The bystander that joined before any bad input still echoes, and a new connection works. */
export async function assertStillServing(harness: Harness): Promise<void> {
  const bystander = bystanders.get(harness);
  assert.ok(bystander, 'bystander exists');
  bystander.send(text('still there?'));
  assertFrame(await bystander.frame(), OP.text, 'still there?', 'the bystander connection still echoes');
  const fresh = await RawClient.echo(harness.port);
  fresh.send(text('new connection'));
  assertFrame(await fresh.frame(), OP.text, 'new connection', 'a new connection echoes');
  await fresh.closeCleanly();
  const health = await RawClient.connect(harness.port);
  health.send(Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
  const response = await health.readResponse();
  assert.is(response.status, 200, '/healthz answers 200');
}

const short = (bytes: Buffer) => (bytes.length > 40 ? `${bytes.subarray(0, 40).toString('hex')}... (${bytes.length} bytes)` : bytes.toString('hex'));

/** A server frame that is one whole, unmasked, RSV-free frame with this opcode and payload. */
export function assertFrame(frame: DecodedFrame, opcode: number, payload: Uint8Array | string, what = 'frame'): void {
  const expected = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  assert.is(frame.opcode, opcode, `${what}: opcode`);
  assert.ok(frame.fin, `${what}: FIN set`);
  assert.is(frame.rsv, 0, `${what}: no RSV bits`);
  assert.not.ok(frame.masked, `${what}: server frames are not masked`);
  if (!frame.payload.equals(expected)) assert.unreachable(`${what}: payload ${short(frame.payload)}, expected ${short(expected)}`);
}

/** The next data message (fragments joined) has this opcode and payload. */
export async function expectMessage(client: RawClient, opcode: number, payload: Uint8Array | string, what = 'echo'): Promise<void> {
  const expected = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  const message = await client.message();
  assert.is(message.opcode, opcode, `${what}: opcode`);
  if (!message.payload.equals(expected)) assert.unreachable(`${what}: payload ${short(message.payload)}, expected ${short(expected)}`);
}

export interface FailOptions {
  /** Messages that must be echoed before the close frame, in order: [opcode, payload]. */
  before?: Array<[number, Uint8Array | string]>;
  /** Send in chops of this size (with `delayMs` between them) instead of one write. */
  chunkSize?: number;
  delayMs?: number;
}

/**
 * Opens an echo connection, sends `bytes`, and asserts: exactly the `before`
 * frames, then a close frame with `code`, then the end of the TCP connection.
 */
export async function expectFailure(port: number, bytes: Uint8Array | Uint8Array[], code: number, options: FailOptions = {}): Promise<void> {
  const client = await RawClient.echo(port);
  const all = Array.isArray(bytes) ? Buffer.concat(bytes) : Buffer.from(bytes);
  if (options.chunkSize !== undefined) await client.sendAll(all, { chunkSize: options.chunkSize, delayMs: options.delayMs ?? 1 });
  else client.send(all);
  const result = await client.expectClose(code);
  assertEchoes(result.before, options.before ?? []);
  assert.is(result.payload.readUInt16BE(0), code);
  await client.waitForEnd();
  assert.is(client.pending, 0, 'nothing after the close frame');
  client.destroy();
}

/** Frames received are exactly these whole messages, in order. */
export function assertEchoes(frames: readonly DecodedFrame[], expected: ReadonlyArray<[number, Uint8Array | string]>): void {
  if (frames.length !== expected.length) assert.unreachable(`expected ${expected.length} frame(s) before the close, got ${describeFrames(frames)}`);
  expected.forEach(([opcode, payload], i) => assertFrame(frames[i]!, opcode, payload, `frame ${i + 1} before the close`));
}

/** Payload of `length` bytes, printable ASCII (valid as text and as binary). */
export function asciiPayload(length: number, seed = 0): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = 0x21 + ((i + seed) % 94);
  return out;
}

/** Bytes 0..255 repeated: a binary payload with every byte value. */
export function binaryPayload(length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = i & 0xff;
  return out;
}

export { closeBody };
