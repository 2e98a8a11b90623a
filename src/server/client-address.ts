// The client address a trusted proxy named for a socket (TRUST_PROXY), kept on the
// socket itself so logs can show it without a map per connection. The header
// parsing is sans-I/O in src/handshake/forwarded.ts.

import type { Socket } from 'node:net';

const CLIENT = Symbol('rooms.client');
type ClientSocket = Socket & { [CLIENT]?: string };

export function setForwardedClient(socket: Socket, address: string): void {
  (socket as ClientSocket)[CLIENT] = address;
}

/** The address a trusted proxy forwarded for, or undefined for a direct connection. */
export function forwardedClientOf(socket: Socket): string | undefined {
  return (socket as ClientSocket)[CLIENT];
}
