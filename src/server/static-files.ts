// Static files for the browser page (public/), by hand and with no sockets here:
// the HTTP router calls serveStatic() for GET/HEAD of every path it does not own
// and writes out what it returns.
//
// Caching: files are read from disk on demand and kept in a small in-memory
// cache keyed by real path and validated by mtime + size, so the content hash
// (the ETag) is computed once per version of a file, and an edited file under
// public/ is served fresh without a restart. Responses carry a strong ETag and
// `Cache-Control: no-cache`: browsers revalidate every load (cheap 304s), so a
// user reconnecting after a deploy always gets the current page and script.
//
// Path safety, in order: the query string is dropped; the path must start with
// "/"; a raw backslash, control character, malformed percent-escape or any
// encoded dot, slash, backslash or NUL (%2e %2f %5c %00) is refused with 400;
// the path is decoded exactly once (invalid UTF-8, e.g. overlong %c0%ae, is 400);
// "." and ".." segments are 400; dotfiles and dot-folders, empty segments
// (directories) and anything that is not a regular file are 404; finally the
// real path (symlinks resolved) must lie inside the real root, else 404.

import { createHash } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, relative, resolve, sep } from 'node:path';

export type StaticStatus = 200 | 304 | 400 | 404;

export interface StaticResponse {
  status: StaticStatus;
  /** Complete response headers, Content-Length included (except on 304). */
  headers: Record<string, string>;
  /** The body for GET; for HEAD send the same headers and no body. Empty on 304. */
  body: Buffer;
}

/** Allows only this origin: scripts, styles, images, and the page's own WebSocket. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self' ws: wss:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
};

const MAX_PATH_LENGTH = 2048;

export function contentTypeFor(fileName: string): string {
  return CONTENT_TYPES[extname(fileName).toLowerCase()] ?? 'application/octet-stream';
}

function securityHeaders(): Record<string, string> {
  return {
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    'Referrer-Policy': 'no-referrer',
  };
}

function plain(status: 400 | 404, text: string): StaticResponse {
  const body = Buffer.from(`${text}\n`, 'utf8');
  return {
    status,
    headers: { ...securityHeaders(), 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(body.length) },
    body,
  };
}

type PathCheck = { ok: true; segments: string[] } | { ok: false; status: 400 | 404; reason: string };

/**
 * Turns a request path into the file segments under the root, or a refusal.
 * Exported for tests; does not touch the file system.
 */
export function checkRequestPath(urlPath: string): PathCheck {
  const cut = urlPath.search(/[?#]/);
  const raw = cut === -1 ? urlPath : urlPath.slice(0, cut);
  const bad = (reason: string): PathCheck => ({ ok: false, status: 400, reason });
  const missing = (reason: string): PathCheck => ({ ok: false, status: 404, reason });

  if (!raw.startsWith('/')) return bad('path must start with /');
  if (raw.length > MAX_PATH_LENGTH) return bad('path too long');
  if (raw.includes('\\')) return bad('backslash in path');
  // Control characters (NUL included) and anything outside printable ASCII must arrive percent-encoded.
  if (/[\u0000-\u0020\u007f-\uffff]/.test(raw)) return bad('raw control or non-ASCII character in path');
  if (/%(?![0-9a-f]{2})/i.test(raw)) return bad('malformed percent-encoding');
  if (/%(2e|2f|5c|00)/i.test(raw)) return bad('encoded dot, slash, backslash or NUL');

  let decoded: string;
  try {
    decoded = decodeURIComponent(raw); // exactly once: "%252e" stays the literal "%2e"
  } catch {
    return bad('percent-encoding is not valid UTF-8');
  }
  if (/[\u0000-\u001f\u007f]/.test(decoded)) return bad('control character in path');
  if (decoded.includes('\\')) return bad('backslash in path');

  if (decoded === '/') return { ok: true, segments: ['index.html'] };
  const segments = decoded.slice(1).split('/');
  for (const segment of segments) {
    if (segment === '.' || segment === '..') return bad('dot segment in path');
  }
  for (const segment of segments) {
    if (segment === '') return missing('directory');
    if (segment.startsWith('.')) return missing('dotfile');
  }
  return { ok: true, segments };
}

/** True when an If-None-Match header value matches the ETag (weak comparison, RFC 9110 13.1.2). */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const bare = etag.replace(/^W\//, '');
  for (const part of ifNoneMatch.split(',')) {
    const tag = part.trim();
    if (tag === '*') return true;
    if (tag.replace(/^W\//, '') === bare) return true;
  }
  return false;
}

interface CachedFile {
  mtimeMs: number;
  size: number;
  body: Buffer;
  etag: string;
}

const MAX_CACHED_FILES = 256;
const fileCache = new Map<string, CachedFile>();
const realRoots = new Map<string, Promise<string>>();

function realRoot(root: string): Promise<string> {
  const abs = resolve(root);
  let found = realRoots.get(abs);
  if (!found) {
    found = realpath(abs);
    found.catch(() => realRoots.delete(abs));
    realRoots.set(abs, found);
  }
  return found;
}

function isInside(parent: string, child: string): boolean {
  return child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
}

async function loadFile(path: string, mtimeMs: number, size: number): Promise<CachedFile> {
  const cached = fileCache.get(path);
  if (cached && cached.mtimeMs === mtimeMs && cached.size === size) return cached;
  const body = await readFile(path);
  const etag = `"${createHash('sha256').update(body).digest('base64url')}"`;
  const entry: CachedFile = { mtimeMs, size: body.length, body, etag };
  fileCache.delete(path);
  if (fileCache.size >= MAX_CACHED_FILES) {
    const oldest = fileCache.keys().next();
    if (!oldest.done) fileCache.delete(oldest.value);
  }
  fileCache.set(path, entry);
  return entry;
}

/**
 * Answers a GET or HEAD for `urlPath` (the request target as received: path plus
 * optional query, still percent-encoded) from the folder `root`.
 * `ifNoneMatch` is the raw If-None-Match request header, if any.
 * Never throws for a bad path or a missing file; an unreadable root rejects.
 */
export async function serveStatic(root: string, urlPath: string, ifNoneMatch: string | undefined): Promise<StaticResponse> {
  const check = checkRequestPath(urlPath);
  if (!check.ok) return check.status === 400 ? plain(400, `Bad request: ${check.reason}`) : plain(404, 'Not found');

  const rootReal = await realRoot(root);
  const candidate = resolve(rootReal, ...check.segments);
  if (!isInside(rootReal, candidate)) return plain(400, 'Bad request: path leaves the root');

  let real: string;
  let mtimeMs: number;
  let size: number;
  try {
    real = await realpath(candidate);
    if (!isInside(rootReal, real)) return plain(404, 'Not found');
    // A symlink inside the root must not lead to a dotfile either.
    if (relative(rootReal, real).split(sep).some((s) => s.startsWith('.'))) return plain(404, 'Not found');
    const info = await stat(real);
    if (!info.isFile()) return plain(404, 'Not found');
    mtimeMs = info.mtimeMs;
    size = info.size;
  } catch {
    return plain(404, 'Not found');
  }

  let file: CachedFile;
  try {
    file = await loadFile(real, mtimeMs, size);
  } catch {
    return plain(404, 'Not found');
  }

  const headers: Record<string, string> = { ...securityHeaders(), ETag: file.etag };
  if (etagMatches(ifNoneMatch, file.etag)) {
    return { status: 304, headers, body: Buffer.alloc(0) };
  }
  headers['Content-Type'] = contentTypeFor(real);
  headers['Content-Length'] = String(file.body.length);
  return { status: 200, headers, body: file.body };
}
