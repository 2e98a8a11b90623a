// Plain HTTP on the WebSocket port (CONTRACT.md "HTTP endpoints"): /healthz,
// /metrics and 404, each answered once with Connection: close, after which the
// server ends the connection; bad requests get 4xx and never stop the server.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RawClient, type HttpAnswer } from '../helpers/raw-client';
import { assertStillServing, useServer } from './support';

const server = useServer(test);

async function get(path: string, extra = ''): Promise<HttpAnswer> {
  const client = await RawClient.connect(server.port);
  client.send(Buffer.from(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n${extra}\r\n`));
  const response = await client.readResponse();
  assert.is(response.headers.get('connection')?.toLowerCase(), 'close', `${path}: Connection: close`);
  await client.waitForEnd();
  client.destroy();
  return response;
}

test('GET /healthz: 200 JSON with status ok and the store, then the connection ends', async () => {
  const response = await get('/healthz');
  assert.is(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(response.body.toString('utf8')) as { status?: unknown; store?: unknown };
  assert.is(body.status, 'ok');
  assert.ok(body.store !== undefined, 'says whether the store is reachable');
});

test('GET /metrics: 200 Prometheus text, then the connection ends', async () => {
  const response = await get('/metrics');
  assert.is(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  const body = response.body.toString('utf8');
  assert.match(body, /^# (HELP|TYPE) /m);
  assert.match(body, /^[a-z_]+(\{[^}]*\})? \d/m);
});

test('GET of an unknown path: 404 with Connection: close', async () => {
  const response = await get('/no/such/thing');
  assert.is(response.status, 404);
});

test('GET /healthz with a keep-alive request still closes: one answer per connection', async () => {
  const response = await get('/healthz', 'Connection: keep-alive\r\n');
  assert.is(response.status, 200);
});

test('two requests pipelined on one connection: the first is answered, then the connection ends', async () => {
  const client = await RawClient.connect(server.port);
  client.send(Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'));
  const first = await client.readResponse();
  assert.is(first.status, 200);
  assert.match(first.headers.get('content-type') ?? '', /json/);
  await client.waitForEnd();
});

test('a malformed request line gets 400 and the connection ends', async () => {
  const client = await RawClient.connect(server.port);
  client.send(Buffer.from('HELLO\r\n\r\n'));
  const response = await client.readResponse();
  assert.is(response.status, 400);
  assert.is(response.headers.get('connection')?.toLowerCase(), 'close');
  await client.waitForEnd();
});

test('a header line without a colon gets 400', async () => {
  const client = await RawClient.connect(server.port);
  client.send(Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\nnot a header\r\n\r\n'));
  assert.is((await client.readResponse()).status, 400);
  await client.waitForEnd();
});

test('a client that closes mid-request does not disturb anyone', async () => {
  const client = await RawClient.connect(server.port);
  client.send(Buffer.from('GET /hea'));
  client.destroy();
  const response = await get('/healthz');
  assert.is(response.status, 200);
});

test('the server keeps serving after the HTTP cases', async () => {
  await assertStillServing(server);
});

test.run();
