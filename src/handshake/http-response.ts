// Serialises HTTP/1.1 responses: refusals with a one-line plain-text reason, the
// 101 Switching Protocols answer, and the small endpoints' replies.

export const STATUS_TEXT: Record<number, string> = {
  101: 'Switching Protocols',
  200: 'OK',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  423: 'Locked',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** A refusal or plain answer: one line of text saying why. */
export function textResponse(status: number, text: string, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers: { 'Content-Type': 'text/plain; charset=utf-8', ...headers }, body: Buffer.from(`${text}\n`, 'utf8') };
}

export function jsonResponse(status: number, value: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers }, body: Buffer.from(`${JSON.stringify(value)}\n`, 'utf8') };
}

/** Every non-upgrade answer closes the connection: the port speaks HTTP only long enough to route. */
export function serializeResponse(response: HttpResponse, headOnly = false): Buffer {
  const lines = [`HTTP/1.1 ${response.status} ${STATUS_TEXT[response.status] ?? 'Unknown'}`];
  const headers: Record<string, string> = { ...response.headers, Connection: 'close' };
  // A 304 describes a body it does not carry, so it keeps the length it was given, if any.
  if (response.status !== 304) headers['Content-Length'] = String(response.body.length);
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return headOnly || response.body.length === 0 ? head : Buffer.concat([head, response.body]);
}

export function switchingProtocols(acceptKey: string, protocol: string | null, extensions: string | null = null): Buffer {
  const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptKey}`];
  if (protocol !== null) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
  if (extensions !== null) lines.push(`Sec-WebSocket-Extensions: ${extensions}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}
