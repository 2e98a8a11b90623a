import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkRequestPath, CONTENT_SECURITY_POLICY, etagMatches, serveStatic } from '../../src/server/static-files';

// Fixture layout:  <base>/public/...  (the root)   <base>/secret.txt   <base>/public-secret/key.txt
const base = mkdtempSync(join(tmpdir(), 'rooms-static-'));
const root = join(base, 'public');
mkdirSync(root);
mkdirSync(join(root, 'sub'));
mkdirSync(join(root, '.git'));
mkdirSync(join(base, 'public-secret'));
const files: Record<string, string | Buffer> = {
  'index.html': '<!doctype html><title>rooms</title>',
  'app.js': 'export const x = 1;\n',
  'style.css': 'body { color: red }\n',
  'icon.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>',
  'pic.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  'data.json': '{"a":1}',
  'favicon.ico': Buffer.from([0, 0, 1, 0]),
  'notes.txt': 'hello\n',
  'blob.bin': Buffer.from([1, 2, 3]),
  'sub/page.html': '<p>sub</p>',
  'sub/%2e%2e': 'literal name',
  'café.txt': 'unicode name\n',
  '.env': 'SECRET=1',
  '.git/config': '[core]',
};
for (const [name, content] of Object.entries(files)) writeFileSync(join(root, name), content);
writeFileSync(join(base, 'secret.txt'), 'outside the root');
writeFileSync(join(base, 'public-secret', 'key.txt'), 'sibling with a common prefix');
symlinkSync(join(base, 'secret.txt'), join(root, 'escape.txt'));
symlinkSync(join(base, 'public-secret'), join(root, 'sibling'));
symlinkSync(join(root, '.env'), join(root, 'env.txt'));
symlinkSync(join(root, 'app.js'), join(root, 'alias.js'));

const get = (path: string, inm?: string) => serveStatic(root, path, inm);

test.after(() => rmSync(base, { recursive: true, force: true }));

test('/ serves index.html', async () => {
  const r = await get('/');
  assert.is(r.status, 200);
  assert.is(r.body.toString(), files['index.html']);
  assert.is(r.headers['Content-Type'], 'text/html; charset=utf-8');
  assert.is(r.headers['Content-Length'], String(r.body.length));
});

test('a query string is ignored', async () => {
  const r = await get('/?room=abc&name=x');
  assert.is(r.status, 200);
  assert.is(r.body.toString(), files['index.html']);
  const js = await get('/app.js?v=3');
  assert.is(js.status, 200);
  assert.is(js.body.toString(), files['app.js']);
});

test('content types, with charset for text', async () => {
  const expect: Record<string, string> = {
    '/index.html': 'text/html; charset=utf-8',
    '/app.js': 'text/javascript; charset=utf-8',
    '/style.css': 'text/css; charset=utf-8',
    '/icon.svg': 'image/svg+xml; charset=utf-8',
    '/pic.png': 'image/png',
    '/data.json': 'application/json; charset=utf-8',
    '/favicon.ico': 'image/x-icon',
    '/notes.txt': 'text/plain; charset=utf-8',
    '/blob.bin': 'application/octet-stream',
    '/sub/page.html': 'text/html; charset=utf-8',
  };
  for (const [path, type] of Object.entries(expect)) {
    const r = await get(path);
    assert.is(r.status, 200, path);
    assert.is(r.headers['Content-Type'], type, path);
  }
});

test('binary bodies are returned byte for byte', async () => {
  const r = await get('/pic.png');
  assert.ok(r.body.equals(files['pic.png'] as Buffer));
});

test('security and cache headers on every answer', async () => {
  for (const path of ['/', '/app.js', '/missing', '/..', '/.env']) {
    const r = await get(path);
    assert.is(r.headers['X-Content-Type-Options'], 'nosniff', path);
    assert.is(r.headers['Content-Security-Policy'], CONTENT_SECURITY_POLICY, path);
    assert.is(r.headers['Cache-Control'], 'no-cache', path);
  }
  assert.match(CONTENT_SECURITY_POLICY, /default-src 'self'/);
  assert.match(CONTENT_SECURITY_POLICY, /connect-src 'self' ws: wss:/);
  assert.not.match(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval|\*/);
});

test('strong ETag from the content hash', async () => {
  const r = await get('/app.js');
  const hash = createHash('sha256').update(files['app.js']).digest('base64url');
  assert.is(r.headers.ETag, `"${hash}"`);
  assert.not.match(r.headers.ETag, /^W\//);
  const again = await get('/app.js');
  assert.is(again.headers.ETag, r.headers.ETag);
  const other = await get('/style.css');
  assert.is.not(other.headers.ETag, r.headers.ETag);
});

test('304 on a matching If-None-Match, with no body', async () => {
  const { headers } = await get('/style.css');
  for (const inm of [headers.ETag, `W/${headers.ETag}`, `"nope", ${headers.ETag}`, '*']) {
    const r = await get('/style.css', inm);
    assert.is(r.status, 304, inm);
    assert.is(r.body.length, 0);
    assert.is(r.headers.ETag, headers.ETag);
    assert.is(r.headers['Cache-Control'], 'no-cache');
  }
  const miss = await get('/style.css', '"something-else"');
  assert.is(miss.status, 200);
});

test('an edited file gets a new body and ETag without a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rooms-static-edit-'));
  try {
    writeFileSync(join(dir, 'a.txt'), 'one');
    const first = await serveStatic(dir, '/a.txt', undefined);
    writeFileSync(join(dir, 'a.txt'), 'two, longer');
    const later = new Date(Date.now() + 5000);
    utimesSync(join(dir, 'a.txt'), later, later);
    const second = await serveStatic(dir, '/a.txt', first.headers.ETag);
    assert.is(second.status, 200);
    assert.is(second.body.toString(), 'two, longer');
    assert.is.not(second.headers.ETag, first.headers.ETag);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('missing files and directories are 404, never a listing', async () => {
  for (const path of ['/missing.js', '/sub', '/sub/', '/sub//page.html', '//index.html', '/index.html/', '/app.js/x']) {
    const r = await get(path);
    assert.is(r.status, 404, path);
    assert.is(r.headers['Content-Type'], 'text/plain; charset=utf-8');
    assert.not.match(r.body.toString(), /page\.html/);
  }
});

test('dotfiles and dot-folders are 404', async () => {
  for (const path of ['/.env', '/.git/config', '/.git/', '/sub/.hidden']) {
    assert.is((await get(path)).status, 404, path);
  }
});

test('.. segments are refused', async () => {
  for (const path of ['/..', '/../secret.txt', '/sub/../index.html', '/sub/../../secret.txt', '/./index.html', '/sub/.']) {
    assert.is((await get(path)).status, 400, path);
  }
});

test('encoded dots, slashes, backslashes and NUL are refused', async () => {
  for (const path of [
    '/%2e%2e/secret.txt',
    '/%2E%2E/secret.txt',
    '/%2e./secret.txt',
    '/.%2e/secret.txt',
    '/sub%2f..%2fsecret.txt',
    '/..%2Fsecret.txt',
    '/..%5csecret.txt',
    '/%5C..%5Csecret.txt',
    '/index.html%00.js',
    '/app%2ejs',
  ]) {
    const r = await get(path);
    assert.is(r.status, 400, path);
    assert.not.match(r.body.toString(), /outside the root/);
  }
});

test('raw backslashes, NUL and control characters are refused', async () => {
  for (const path of ['/..\\secret.txt', '/sub\\page.html', '/index.html\u0000', '/a\tb', '/a\nb', '/a b']) {
    assert.is((await get(path)).status, 400, JSON.stringify(path));
  }
});

test('malformed percent-encoding is 400', async () => {
  for (const path of ['/%', '/%zz', '/%2', '/a%g1', '/%c0%ae%c0%ae/secret.txt', '/%e0%80%ae', '/%ff']) {
    assert.is((await get(path)).status, 400, path);
  }
});

test('percent-encoding is decoded exactly once', async () => {
  const literal = await get('/sub/%252e%252e');
  assert.is(literal.status, 200);
  assert.is(literal.body.toString(), 'literal name');
  assert.is((await get('/%252e%252e/secret.txt')).status, 404);
  const unicode = await get('/caf%C3%A9.txt');
  assert.is(unicode.status, 200);
  assert.is(unicode.body.toString(), 'unicode name\n');
  const spaced = await get('/%61pp.js');
  assert.is(spaced.status, 200);
});

test('paths must start with / (no absolute-form or relative targets)', async () => {
  for (const path of ['', 'index.html', 'http://example.com/index.html', '*']) {
    assert.is((await get(path)).status, 400, path);
  }
  assert.is((await get('/' + 'a'.repeat(3000))).status, 400);
});

test('symlinks resolving outside the root are 404', async () => {
  assert.is((await get('/escape.txt')).status, 404);
  assert.is((await get('/sibling/key.txt')).status, 404);
  const inside = await get('/alias.js');
  assert.is(inside.status, 200);
  assert.is(inside.body.toString(), files['app.js']);
});

test('a symlink to a dotfile is 404', async () => {
  assert.is((await get('/env.txt')).status, 404);
});

test('checkRequestPath maps paths to segments', () => {
  assert.equal(checkRequestPath('/'), { ok: true, segments: ['index.html'] });
  assert.equal(checkRequestPath('/a/b.js?x=1#y'), { ok: true, segments: ['a', 'b.js'] });
  assert.equal(checkRequestPath('/x%20y.txt'), { ok: true, segments: ['x y.txt'] });
});

test('etagMatches: lists, weak tags, star', () => {
  assert.ok(etagMatches('"a"', '"a"'));
  assert.ok(etagMatches(' "b" , "a" ', '"a"'));
  assert.ok(etagMatches('W/"a"', '"a"'));
  assert.ok(etagMatches('*', '"a"'));
  assert.not.ok(etagMatches('"ab"', '"a"'));
  assert.not.ok(etagMatches(undefined, '"a"'));
  assert.not.ok(etagMatches('', '"a"'));
});

test('a missing root rejects instead of serving anything', async () => {
  try {
    await serveStatic(join(base, 'nope'), '/', undefined);
    assert.unreachable('should have rejected');
  } catch (err) {
    assert.instance(err, Error);
    assert.not.instance(err, assert.Assertion);
  }
});

test('the real public/ folder: page, script and style are served', async () => {
  const pub = new URL('../../public/', import.meta.url).pathname;
  const page = await serveStatic(pub, '/', undefined);
  assert.is(page.status, 200);
  const html = page.body.toString();
  assert.match(html, /<html lang=/);
  // No CDN, no external fonts, no inline script or style (the CSP forbids them).
  assert.not.match(html, /(src|href)="(https?:)?\/\//);
  assert.not.match(html, /<script>|<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle="|\son[a-z]+="/i);
  for (const asset of ['/app.js', '/style.css', '/favicon.svg']) {
    const r = await serveStatic(pub, asset, undefined);
    assert.is(r.status, 200, asset);
    assert.ok(html.includes(asset.slice(1)), `index.html references ${asset}`);
  }
  // Every script of the page, however it is split into modules.
  const scripts = readdirSync(pub).filter((f) => f.endsWith('.js'));
  for (const file of ['app.js', 'rooms-client.js', 'access.js', 'access-page.js', 'page-link.js', 'page-view.js']) assert.ok(scripts.includes(file), file);
  for (const file of scripts) {
    const js = readFileSync(join(pub, file), 'utf8');
    assert.not.match(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/, file);
  }
});

test.run();
