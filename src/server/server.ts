// The server: a node:net listener whose sockets start in the HTTP handshake phase
// and either get a plain answer or are upgraded to a WebSocket peer in a room.
// It owns every timer (header timeout, heartbeat, retention purge) and shutdown.

import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { type SecureContext, TLSSocket, createSecureContext } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { AS_MEMBER, type Granted } from '../access/gate';
import { computeAcceptKey } from '../handshake/accept-key';
import { HttpRequestParser } from '../handshake/http-request-parser';
import { type HttpResponse, serializeResponse, switchingProtocols, textResponse } from '../handshake/http-response';
import { decideRequest, type RequestDecision } from '../handshake/upgrade-request';
import { ProxyTrust, clientAddress, normalizeAddress } from '../handshake/forwarded';
import { type CompressionStats, maxCompressedBytes, negotiateDeflate } from '../extensions/permessage-deflate';
import { CloseCode } from '../frames/close-codes';
import { Opcode } from '../frames/opcodes';
import type { RoomStore } from '../persistence/types';
import { jsonMessageBody } from '../rooms/delivery';
import type { HistoryStore } from '../history/history-store';
import { type JoinView, replayWanted } from '../history/history-source';
import { welcomeFrame } from '../rooms/json-protocol';
import type { Room } from '../rooms/room';
import type { RoomRegistry } from '../rooms/room-registry';
import type { AccessControl } from '../access/access-control';
import type { Settings } from '../settings';
import { AddressBuckets } from '../limits/address-buckets';
import { AddressSlots } from '../limits/address-slots';
import { setForwardedClient } from './client-address';
import { routeHttp } from './http-routes';
import { openRoomServices } from './room-services';
import { createLogger, type Logger } from './logger';
import { Metrics, renderPrometheus } from './metrics';
import { WriteBatcher } from './write-batcher';
import { heartbeatTick } from './heartbeat';
import { type PeerContext, WsPeer, remoteOf } from './ws-peer';

export interface RoomsServer {
  readonly port: number;
  readonly host: string;
  /** ws://host:port */
  readonly url: string;
  readonly registry: RoomRegistry;
  readonly metrics: Metrics;
  readonly store: RoomStore;
  readonly compressionStats: CompressionStats;
  /** Graceful stop: refuse new connections, close every WebSocket with 1001, flush the store. */
  close(): Promise<void>;
  /** Reads TLS_CERT/TLS_KEY again for new connections; open ones keep theirs. False (and logged) if unreadable. */
  reloadTls(): boolean;
  /** Reads JOIN_TOKEN_SECRET/JOIN_TOKEN_PUBLIC_KEY's file again (SIGHUP); the old key stays if the new one is bad. */
  reloadJoinKey(): boolean;
  readonly access: AccessControl;
}

export interface StartOptions {
  log?: Logger;
  /** A store already built (tests); by default one is made from the settings. */
  store?: RoomStore;
  publicDir?: string;
  /** Where --trace-frames lines go (default: stderr). */
  traceTo?: (line: string) => void;
  /** A history store already built (tests); null keeps history in memory only. */
  historyStore?: HistoryStore | null;
}

/**
 * Socket state kept on the socket itself: its request-head parser, and the address its slot
 * counts against ('' while a trusted proxy's connection waits for its head to name the client).
 */
const HEAD = Symbol('rooms.head');
const SLOT = Symbol('rooms.slot');
type ServerSocket = Socket & { [HEAD]?: HttpRequestParser; [SLOT]?: string };
type Upgrade = Extract<RequestDecision, { kind: 'upgrade' }>;

function ignore(): void {}
function destroyThis(this: Socket): void {
  this.destroy();
}


/** Pending connections the kernel may queue; Node's default (511) overflows under join storms. */
const LISTEN_BACKLOG = 4096;

const DEFAULT_PUBLIC_DIR = fileURLToPath(new URL('../../public', import.meta.url));

export async function startServer(settings: Settings, options: StartOptions = {}): Promise<RoomsServer> {
  const log = options.log ?? createLogger(settings.logLevel);
  const services = await openRoomServices(settings, log, options);
  const { access, store, registry, ownerCommands, compressionStats, cluster, clusterControl } = services;
  const metrics = new Metrics();
  const peers = new Set<WsPeer>();
  const trace = settings.traceFrames ? (options.traceTo ?? ((line: string) => process.stderr.write(`${line}\n`))) : null;
  const ctx: PeerContext = { settings, metrics, log, batcher: new WriteBatcher(), registry, peers, trace, compressionStats, ownerCommands };
  const startedAt = Date.now();
  const publicDir = options.publicDir ?? DEFAULT_PUBLIC_DIR;
  const sockets = new Set<Socket>();
  const refusedSockets = new Set<Socket>();
  const addressSlots = new AddressSlots(settings.maxConnectionsPerAddress);
  /** Upgrades per client address: a token bucket (JOIN_BURST at once, JOINS_PER_MINUTE sustained). */
  const joinBuckets = new AddressBuckets(settings.joinsPerMinutePerAddress, settings.joinBurst);
  const proxies = settings.trustProxy !== undefined && settings.trustProxy.length > 0 ? new ProxyTrust(settings.trustProxy) : null;
  let stopping = false;

  const routeContext = {
    adminToken: settings.adminToken,
    publicDir,
    health: () => ({ store: store.health(), history: services.history.health(), connections: peers.size, rooms: registry.size, uptimeSeconds: Math.round((Date.now() - startedAt) / 1000), cluster: cluster?.health() }),
    metricsText: () => {
      const health = store.health();
      let roomMembers = 0;
      for (const peer of peers) if (peer.room !== null) roomMembers++;
      return renderPrometheus({ metrics, connections: peers.size, rooms: registry.size, roomMembers, compression: compressionStats, store: { kind: health.kind, up: health.state === 'up', pendingWrites: health.pendingWrites, errors: health.errors }, history: services.history.history.memory() }) + (cluster?.metricsText() ?? '');
    },
    rooms: services.rooms,
    closeRoom: services.closeRoom,
  };

  // TLS on the same port: the first byte tells a TLS ClientHello (0x16, a handshake record)
  // from plain text, which gets a readable 400 instead of a reset.
  let secureContext: SecureContext | null = null;
  const loadTls = (): boolean => {
    if (settings.tlsCert === undefined && settings.tlsKey === undefined) return false;
    if (settings.tlsCert === undefined || settings.tlsKey === undefined) throw new Error('TLS needs both TLS_CERT and TLS_KEY');
    secureContext = createSecureContext({ cert: readFileSync(settings.tlsCert), key: readFileSync(settings.tlsKey) });
    return true;
  };
  loadTls();
  const tls = secureContext !== null;

  // allowHalfOpen: a client may send its request, a frame and a close, then FIN, before the
  // room exists; its FIN must not cut the answer off (it is fed to the connection in order).
  const server: Server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => (secureContext === null ? acceptSocket(socket) : acceptTlsSocket(socket, secureContext)));

  function acceptTlsSocket(socket: Socket, context: SecureContext): void {
    socket.on('error', ignore);
    const silent = setTimeout(() => socket.destroy(), settings.headerTimeoutMs);
    socket.once('data', (first: Buffer) => {
      clearTimeout(silent);
      socket.pause();
      if (first[0] !== 0x16) {
        return respond(socket, textResponse(400, 'this port speaks TLS: use wss:// or https://'), true);
      }
      // Node's TLSSocket reads what is already buffered on the socket first, so the sniffed byte is not lost.
      socket.unshift(first);
      const secure = new TLSSocket(socket, { isServer: true, secureContext: context, ALPNProtocols: ['http/1.1'] });
      secure.on('error', () => socket.destroy());
      acceptSocket(secure);
    });
  }

  // Per-socket state lives on the socket under these symbols, and every socket shares the
  // same listener functions (`this` is the socket): no closures or timers per connection.
  const handshaking = new Map<ServerSocket, number>(); // socket -> deadline for its request head

  function acceptSocket(socket: ServerSocket): void {
    socket.on('error', ignore);
    socket.on('close', onSocketClose);
    const address = normalizeAddress(socket.remoteAddress ?? 'unknown');
    // Caps are checked before reading a byte, so a flood of sockets costs almost nothing.
    // A trusted proxy's connections are counted by the client its header names, once read.
    const viaProxy = proxies !== null && proxies.trusts(address);
    const refusal = stopping ? 'server is shutting down' : sockets.size >= settings.maxConnections ? 'server is at its connection limit' : !viaProxy && !addressSlots.take(address) ? 'too many connections from your address' : null;
    if (refusal !== null) return respond(socket, textResponse(503, refusal, { 'Retry-After': '5' }), true, false, 'warn');
    sockets.add(socket);
    socket[SLOT] = viaProxy ? '' : address;
    // The whole head must arrive in time: a peer dripping one byte a second is dropped, not waited for.
    socket[HEAD] = new HttpRequestParser(settings.maxHeaderBytes);
    handshaking.set(socket, Date.now() + settings.headerTimeoutMs);
    socket.on('data', onHeadBytes);
    socket.on('end', onHeadEnd);
  }

  /** A socket stops counting against the caps once it closes, or once it has its final HTTP answer. */
  function releaseSlot(socket: ServerSocket): void {
    const address = socket[SLOT];
    if (address === undefined) return;
    socket[SLOT] = undefined;
    sockets.delete(socket);
    if (address !== '') addressSlots.release(address);
  }

  function onSocketClose(this: ServerSocket): void {
    handshaking.delete(this);
    refusedSockets.delete(this);
    releaseSlot(this);
  }

  function endHeadPhase(socket: ServerSocket): void {
    socket[HEAD] = undefined;
    handshaking.delete(socket);
    socket.off('data', onHeadBytes);
    socket.off('end', onHeadEnd);
  }

  function onHeadBytes(this: ServerSocket, chunk: Buffer): void {
    const parser = this[HEAD];
    if (parser === undefined) return;
    const parsed = parser.push(chunk);
    if (parsed.kind === 'need-more') return;
    endHeadPhase(this);
    if (parsed.kind === 'error') return respond(this, textResponse(parsed.status, parsed.reason), true);
    if (this[SLOT] === '' && !countForwardedClient(this, parsed.head.headers)) return;
    const decision = decideRequest(parsed.head, { echoEnabled: settings.echo, allowedOrigins: settings.allowedOrigins });
    handleDecision(this, decision, parsed.rest);
  }

  /**
   * A trusted proxy's connection: its slot counts against the client the proxy names
   * (MAX_CONNECTIONS_PER_ADDRESS), and logs show that client. False when refused.
   */
  function countForwardedClient(socket: ServerSocket, headers: ReadonlyMap<string, string>): boolean {
    const client = clientAddress(socket.remoteAddress ?? 'unknown', headers, proxies);
    if (client !== normalizeAddress(socket.remoteAddress ?? 'unknown')) setForwardedClient(socket, client);
    if (!addressSlots.take(client)) {
      respond(socket, textResponse(503, 'too many connections from your address', { 'Retry-After': '5' }), true, false, 'warn');
      return false;
    }
    socket[SLOT] = client;
    return true;
  }

  /** A FIN before the head is complete: there is nobody left to answer. */
  function onHeadEnd(this: ServerSocket): void {
    if (this[HEAD] !== undefined) this.destroy();
  }

  function sweepHeadTimeouts(): void {
    const now = Date.now();
    // Deadlines were added in order, all with the same timeout: stop at the first one not due.
    for (const [socket, deadline] of handshaking) {
      if (deadline > now) break;
      endHeadPhase(socket);
      respond(socket, textResponse(408, `request head not received within ${settings.headerTimeoutMs} ms`), true);
    }
  }

  function handleDecision(socket: ServerSocket, decision: RequestDecision, rest: Buffer): void {
    if (decision.kind === 'refuse') return respond(socket, decision.response, true);
    if (decision.kind === 'http') {
      routeHttp(decision, routeContext).then(
        (response) => respond(socket, response, false, decision.method === 'HEAD'),
        (error: unknown) => {
          log.error('http_route_failed', { path: decision.path, error: String(error) });
          respond(socket, textResponse(500, 'internal error'), true);
        },
      );
      return;
    }
    const address = socket[SLOT] || normalizeAddress(socket.remoteAddress ?? 'unknown');
    const join = joinBuckets.take(address, Date.now());
    if (!join.ok) {
      const wait = String(join.retryAfterSeconds);
      return respond(socket, textResponse(429, `too many joins from your address; try again in ${wait} s`, { 'Retry-After': wait }), true);
    }
    if (stopping) return respond(socket, textResponse(503, 'server is shutting down', { 'Retry-After': '5' }), true);
    if (decision.endpoint === 'echo') return upgrade(socket, decision, null, rest.length > 0 ? [rest] : [], false);
    // Joining a room that exists needs no wait; creating one waits for its durable write.
    const room = registry.admitNow(decision.room);
    // A cluster reads the welcome's history from Redis: no view at once, so the admission path,
    // which also reads the owner's latest lock and secret (from the shared store while Redis is down).
    const view = room !== null && clusterControl === null ? registry.source.viewNow(room) : null;
    if (room !== null && view !== null && access.gate.passesWithoutCheck(room.access, decision.credential)) return upgrade(socket, decision, room, rest.length > 0 ? [rest] : [], false, AS_MEMBER, view);
    view?.done();
    void admitThenUpgrade(socket, decision, rest);
  }

  /** Waits for the room (its creation is durable before the 101), keeping what arrives meanwhile. */
  async function admitThenUpgrade(socket: ServerSocket, decision: Upgrade, rest: Buffer): Promise<void> {
    // Bytes that arrive while the room is being created are kept, boundedly, and fed in order later.
    const early: Buffer[] = rest.length > 0 ? [rest] : [];
    let earlyBytes = rest.length;
    const keepEarly = (chunk: Buffer) => {
      earlyBytes += chunk.length;
      if (earlyBytes > maxCompressedBytes(settings.maxMessageBytes) + 65536) socket.destroy();
      else early.push(chunk);
    };
    let ended = false;
    const noteEnd = () => (ended = true);
    socket.on('data', keepEarly);
    socket.on('end', noteEnd);
    // Access (secret, owner token, join token, lock) is decided before the room admits the join.
    const address = socket[SLOT] ?? socket.remoteAddress ?? 'unknown';
    // A cluster: decided by the owner's latest state, wherever it was set.
    if (clusterControl !== null) await clusterControl.refresh(decision.room);
    // With what the join asks replayed: a cluster reads that much of the history from Redis, not all of it.
    const admission = await access.admit(registry, { room: decision.room, name: decision.name, credential: decision.credential, address }, replayWanted(decision.protocol !== null, decision.resume, decision.history));
    socket.off('data', keepEarly);
    socket.off('end', noteEnd);
    if (!admission.ok) return respond(socket, admission.response, true);
    if (admission.created && log.enabled('info')) log.info('room_created', { peer: remoteOf(socket) });
    if (socket.destroyed || stopping) {
      admission.view.done();
      registry.release(admission.room);
      if (!socket.destroyed) respond(socket, textResponse(503, 'server is shutting down'), true);
      return;
    }
    upgrade(socket, decision, admission.room, early, ended, admission.grant, admission.view);
  }

  function upgrade(socket: ServerSocket, decision: Upgrade, room: Room | null, early: Buffer[], ended: boolean, grant: Granted = AS_MEMBER, view: JoinView | null = null): void {
    const mode = decision.protocol === null ? 'raw' : 'json';
    const deflate = settings.deflate ? negotiateDeflate(decision.extensions) : null;
    const peer = new WsPeer(socket, ctx, decision.name, mode, room, deflate?.params ?? null);
    peer.role = grant.role;
    peer.write(switchingProtocols(computeAcceptKey(decision.key), decision.protocol, deflate?.response ?? null));
    if (room !== null && view !== null) {
      registry.join(room, peer);
      // The owner token goes to the creator only, in this one frame.
      const extra = { protected: room.access.secretHash !== null, role: grant.role, ...(grant.ownerToken !== null ? { ownerToken: grant.ownerToken } : {}) };
      // All in this turn: welcome, replay (within a receiver's allowed backlog), what came live after the view, then live.
      const replay = view.plan(mode, replayWanted(mode === 'json', decision.resume, decision.history), Date.now(), settings.maxBufferedBytes);
      if (mode === 'json') peer.conn.send(Opcode.Text, Buffer.from(welcomeFrame(room.key, peer.name, registry.memberNames(room), replay.welcome, extra)));
      for (const frame of replay.frames) peer.conn.send(frame.opcode, frame.payload);
      for (const message of view.missed()) {
        if (mode === 'raw') peer.conn.send(message.opcode, message.payload);
        else peer.conn.send(Opcode.Text, jsonMessageBody(message));
      }
      view.done();
    }
    if (log.enabled('info')) log.info('connected', { peer: remoteOf(socket), endpoint: decision.endpoint, mode, deflate: deflate !== null });
    peer.start(early);
    if (ended) peer.conn.receiveEof();
  }

  /** Every plain answer closes its connection; `refusal` marks answers that refuse an attempt. */
  function respond(socket: ServerSocket, response: HttpResponse, refusal: boolean, headOnly = false, level: 'info' | 'warn' = 'info'): void {
    if (refusal && response.status >= 400) {
      metrics.handshakesRefused++;
      if (log.enabled(level)) log[level]('refused', { peer: remoteOf(socket), status: response.status, reason: response.body.toString('utf8').trim() });
    }
    socket.end(serializeResponse(response, headOnly));
    releaseSlot(socket);
    refusedSockets.add(socket);
    // The answer is sent; if the client does not close its side, do not wait forever.
    socket.setTimeout(settings.closeTimeoutMs);
    socket.once('timeout', destroyThis);
  }

  const heartbeat = setInterval(() => heartbeatTick(peers, { log, metrics, pingIntervalMs: settings.pingIntervalMs }), settings.pingIntervalMs);
  const housekeeping = setInterval(() => {
    const now = Date.now();
    joinBuckets.sweep(now);
    access.sweep(now);
    services.purgeExpired();
  }, 60_000);
  const headTimeouts = setInterval(sweepHeadTimeouts, Math.max(20, Math.min(1000, Math.floor(settings.headerTimeoutMs / 5))));
  headTimeouts.unref();
  heartbeat.unref();
  housekeeping.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: settings.port, host: settings.host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : settings.port;
  const url = `${tls ? 'wss' : 'ws'}://${settings.host.includes(':') ? `[${settings.host}]` : settings.host}:${port}`;
  log.always('ready', { msg: `listening on ${url}`, url, store: store.description, restoredRooms: services.restored });

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stopping = true;
      registry.freeze();
      clearInterval(heartbeat);
      clearInterval(housekeeping);
      clearInterval(headTimeouts);
      const listenerClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const peer of peers) peer.close(CloseCode.GoingAway, 'server shutting down');
      // Peers answer the close within CLOSE_TIMEOUT, or their sockets are destroyed by then.
      const deadline = Date.now() + settings.closeTimeoutMs + 100;
      while (sockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const socket of sockets) socket.destroy();
      for (const socket of refusedSockets) socket.destroy();
      await listenerClosed;
      await services.close(settings.closeTimeoutMs);
      log.info('stopped', {});
    })();
    return closing;
  };

  const reloadTls = (): boolean => {
    try {
      const reloaded = loadTls();
      log.info('tls_reloaded', { ok: reloaded });
      return reloaded;
    } catch (error) {
      log.error('tls_reload_failed', { error: String(error) });
      return false;
    }
  };

  const reloadJoinKey = (): boolean => access.reloadKey(log);

  return { port, host: settings.host, url, registry, metrics, store, compressionStats, close, reloadTls, reloadJoinKey, access };
}
