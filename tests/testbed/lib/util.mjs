// Shared helpers: HTTP plumbing, fault switches, counters, canonical JSON.
import http from 'node:http';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const nowSec = () => Math.floor(Date.now() / 1000);

export class HttpError extends Error {
  constructor(status, body, headers = {}) {
    super(typeof body === 'string' ? body : JSON.stringify(body));
    this.status = status; this.body = body; this.headers = headers;
  }
}

export function readBody(req, limit = 4 * 1024 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = []; let n = 0;
    req.on('data', (c) => {
      n += c.length;
      if (n > limit) { reject(new HttpError(413, { code: 413, message: 'request body too large' })); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => { req.bodyDoneAt = performance.now(); resolve(Buffer.concat(chunks)); });
    req.on('error', reject);
  });
}

export function parseJson(buf, errBody = (m) => ({ code: 400, message: m })) {
  try { return JSON.parse(buf.toString('utf8') || 'null'); } catch (e) { throw new HttpError(400, errBody(`invalid JSON: ${e.message}`)); }
}

export function send(res, status, body, headers = {}) {
  if (res.headersSent) return;
  let payload = body;
  const h = { ...headers };
  if (body === undefined || body === null) payload = '';
  else if (Buffer.isBuffer(body)) { h['Content-Type'] ||= 'application/octet-stream'; }
  else if (typeof body === 'string') { h['Content-Type'] ||= 'text/plain; charset=utf-8'; }
  else { payload = JSON.stringify(body) + '\n'; h['Content-Type'] ||= 'application/json'; }
  h['Content-Length'] = Buffer.byteLength(payload);
  res.writeHead(status, h);
  res.end(payload);
}

// Start an http server on 127.0.0.1 with a random port. handler(req, res, url) may throw HttpError.
export async function listen(name, handler, log) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const t = performance.now();
    // Total time since the request line; with a body, also the time spent
    // after the whole body had arrived (the service's own work).
    res.on('finish', () => {
      const end = performance.now();
      const work = req.bodyDoneAt ? `, ${(end - req.bodyDoneAt).toFixed(2)} ms after the body` : '';
      log?.(`${name} ${req.method} ${url.pathname} -> ${res.statusCode} (${(end - t).toFixed(2)} ms${work})`);
    });
    try {
      await handler(req, res, url);
    } catch (e) {
      if (e instanceof HttpError) send(res, e.status, e.body, e.headers);
      else {
        log?.(`${name}: internal error on ${req.method} ${req.url}: ${e.stack || e}`);
        send(res, 500, { code: 500, message: `internal error: ${e.message}` });
      }
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
  const { port } = server.address();
  return { server, port, url: `http://127.0.0.1:${port}` };
}

// Fault switches: key "service.fault" -> {count|null (sticky), value}
export class Faults {
  constructor() { this.map = new Map(); }
  set(service, fault, { count = null, value = null } = {}) {
    if (count !== null && !(Number.isInteger(count) && count > 0)) throw new HttpError(400, { code: 400, message: 'count must be a positive integer' });
    this.map.set(`${service}.${fault}`, { service, fault, count, value });
  }
  peek(service, fault) { return this.map.get(`${service}.${fault}`); }
  // Consume one use of a fault if active; returns the entry or undefined.
  take(service, fault) {
    const k = `${service}.${fault}`;
    const f = this.map.get(k);
    if (!f) return undefined;
    if (f.count !== null) { f.count -= 1; if (f.count <= 0) this.map.delete(k); }
    return f;
  }
  clear(service, fault) {
    if (!service) { this.map.clear(); return; }
    for (const k of [...this.map.keys()]) {
      const f = this.map.get(k);
      if (f.service === service && (!fault || f.fault === fault)) this.map.delete(k);
    }
  }
  list() { return [...this.map.values()].map((f) => ({ ...f })); }
}

// RFC 8785 canonical JSON for the values the testbed produces (strings, safe
// integers, booleans, null, arrays, objects). Keys sorted by UTF-16 code units.
export function canonicalJson(v) {
  if (v === null || typeof v === 'boolean') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error('non-finite number');
    return JSON.stringify(v);
  }
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (typeof v === 'object') {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  }
  throw new Error(`cannot canonicalize ${typeof v}`);
}

export const rfc3339 = (d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
