// The plain HTTP side of the port (CONTRACT.md, "HTTP endpoints"): health,
// metrics, the admin list behind a bearer token, the browser page, and 404.
// Every answer closes its connection; only WebSocket upgrades stay open.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { HttpRequestHead } from '../handshake/http-request-parser';
import { type HttpResponse, jsonResponse, textResponse } from '../handshake/http-response';
import type { RoomSummary } from '../rooms/room-registry';
import type { StoreHealth } from '../persistence/types';
import { serveStatic } from './static-files';

export interface RouteContext {
  adminToken: string | undefined;
  publicDir: string;
  health(): { store: StoreHealth; connections: number; rooms: number; uptimeSeconds: number; history?: unknown; cluster?: { node: string; nodes: number; redis: 'up' | 'down' } | undefined };
  metricsText(): string;
  rooms(): RoomSummary[] | Promise<RoomSummary[]>;
  /** Closes a room as its owner's close_room does; false for no such room. */
  closeRoom?(key: string): boolean | Promise<boolean>;
}

export interface HttpRequest {
  method: string;
  path: string;
  query: string;
  head: HttpRequestHead;
}

export async function routeHttp(request: HttpRequest, ctx: RouteContext): Promise<HttpResponse> {
  const { method, path } = request;
  if (method === 'DELETE' && path.startsWith('/admin/rooms/')) return deleteRoom(request, ctx);
  if (method !== 'GET' && method !== 'HEAD') return textResponse(405, `method ${method} not allowed`, { Allow: 'GET, HEAD' });
  switch (path) {
    case '/healthz': {
      const health = ctx.health();
      // 200 even when the store is down: the server still serves every room from memory.
      return jsonResponse(200, {
        status: health.store.state === 'up' && health.cluster?.redis !== 'down' ? 'ok' : 'degraded',
        store: { kind: health.store.kind, reachable: health.store.state === 'up', pendingWrites: health.store.pendingWrites, errors: health.store.errors, lastError: health.store.lastError },
        connections: health.connections,
        rooms: health.rooms,
        uptimeSeconds: health.uptimeSeconds,
        // History writes owed to the store (src/history): {kept, state, pendingRooms, errors}.
        ...(health.history !== undefined ? { history: health.history } : {}),
        ...(health.cluster === undefined ? {} : { cluster: health.cluster }),
      });
    }
    case '/metrics':
      return { status: 200, headers: { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8', 'Cache-Control': 'no-store' }, body: Buffer.from(ctx.metricsText()) };
    case '/admin/rooms':
      if (ctx.adminToken === undefined) return textResponse(404, 'not found');
      if (!bearerMatches(request.head.headers.get('authorization'), ctx.adminToken)) {
        return textResponse(401, 'a valid Authorization: Bearer token is required', { 'WWW-Authenticate': 'Bearer realm="rooms"' });
      }
      return jsonResponse(200, await ctx.rooms());
    case '/echo':
      return textResponse(426, 'this endpoint speaks WebSocket: connect with ws://HOST:PORT/echo', { Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' });
    default: {
      const file = await serveStatic(ctx.publicDir, request.head.target, request.head.headers.get('if-none-match'));
      return file;
    }
  }
}

/**
 * Compares in constant time: hashing both sides first gives equal lengths, so
 * neither the token's content nor its length leaks through timing.
 */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
  const given = createHash('sha256').update(match?.[1] ?? '').digest();
  const expected = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, expected) && match !== null;
}

/** DELETE /admin/rooms/KEY: the admin closes a room as its owner would (members get 4002). */
async function deleteRoom(request: HttpRequest, ctx: RouteContext): Promise<HttpResponse> {
  if (ctx.adminToken === undefined || ctx.closeRoom === undefined) return textResponse(404, 'not found');
  if (!bearerMatches(request.head.headers.get('authorization'), ctx.adminToken)) {
    return textResponse(401, 'a valid Authorization: Bearer token is required', { 'WWW-Authenticate': 'Bearer realm="rooms"' });
  }
  let key: string;
  try {
    key = decodeURIComponent(request.path.slice('/admin/rooms/'.length));
  } catch {
    return textResponse(404, 'no such room');
  }
  if (!(await ctx.closeRoom(key))) return textResponse(404, 'no such room');
  return jsonResponse(200, { room: key, closed: true });
}
