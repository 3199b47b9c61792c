// Loopback stand-ins for cosign's ambient token providers, each speaking
// its platform's protocol and handing out real ID tokens minted by a
// running testbed (POST $TESTBED_URL/token):
//
//   Buildkite agent API   POST /v3/jobs/{job}/oidc/tokens   (Authorization: Token …)
//   GCE metadata server   GET  /computeMetadata/v1/instance/service-accounts/default/{identity,token}
//                               (Metadata-Flavor: Google)
//   IAM Credentials       POST /v1/projects/-/serviceAccounts/{sa}:generateIdToken (Bearer …)
//   SPIFFE Workload API   gRPC /SpiffeWorkloadAPI/FetchJWTSVID, h2c on a unix socket
//                               (metadata workload.spiffe.io: true)
//
// Usage: node ambient.mjs CONFIG_JSON
//   {testbed, socket?, email?, agentToken?, jobId?, fail?: {buildkite?, metadata?, iam?, spiffe?}}
//   fail.buildkite/metadata/iam: an HTTP status to answer instead;
//   fail.spiffe: a gRPC status code (7: PERMISSION_DENIED).
// Prints one JSON line {port, socket} when ready; every request is
// appended as a JSON line to CONFIG.log (method, path, audience, headers
// that matter: never a token). Exits when stdin closes.
import http from 'node:http';
import http2 from 'node:http2';
import fs from 'node:fs';

const cfg = JSON.parse(process.argv[2]);
const fail = cfg.fail || {};
const agentToken = cfg.agentToken || 'bk-agent-token';
const accessToken = 'ya29.standin-access-token';
const log = (o) => { if (cfg.log) fs.appendFileSync(cfg.log, JSON.stringify(o) + '\n'); };

async function mint(aud) {
  const r = await fetch(`${cfg.testbed}/token`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ aud, ...(cfg.email ? { email: cfg.email } : {}) }),
  });
  if (!r.ok) throw new Error(`testbed /token: ${r.status}`);
  return (await r.json()).id_token;
}

function reply(res, status, body, type = 'application/json') {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const raw = Buffer.concat(chunks).toString();
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  try {
    let m;
    if (req.method === 'POST' && (m = p.match(/^\/v3\/jobs\/([^/]+)\/oidc\/tokens$/))) {
      const body = JSON.parse(raw || '{}');
      log({ service: 'buildkite', job: decodeURIComponent(m[1]), audience: body.audience, auth_ok: req.headers.authorization === `Token ${agentToken}` });
      if (fail.buildkite) return reply(res, fail.buildkite, { message: 'Unauthorized' });
      if (req.headers.authorization !== `Token ${agentToken}`) return reply(res, 401, { message: 'Unauthorized' });
      if (cfg.jobId && decodeURIComponent(m[1]) !== cfg.jobId) return reply(res, 404, { message: 'No job found' });
      return reply(res, 200, { token: await mint(body.audience) });
    }
    if (req.method === 'GET' && p.startsWith('/computeMetadata/v1/')) {
      const flavor = req.headers['metadata-flavor'];
      const suffix = p.slice('/computeMetadata/v1/'.length);
      log({ service: 'metadata', path: suffix, audience: url.searchParams.get('audience'), format: url.searchParams.get('format'), flavor });
      if (flavor !== 'Google') return reply(res, 403, 'Missing required header "Metadata-Flavor": "Google"', 'text/html');
      if (fail.metadata) return reply(res, fail.metadata, 'Not Found', 'text/html');
      if (suffix === 'instance/service-accounts/default/identity') {
        const aud = url.searchParams.get('audience');
        if (!aud) return reply(res, 400, 'non-empty audience parameter required', 'text/html');
        return reply(res, 200, await mint(aud), 'text/html');
      }
      if (suffix === 'instance/service-accounts/default/token') {
        return reply(res, 200, { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' });
      }
      return reply(res, 404, 'Not Found', 'text/html');
    }
    if (req.method === 'POST' && (m = p.match(/^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateIdToken$/))) {
      const body = JSON.parse(raw || '{}');
      log({ service: 'iam', target: decodeURIComponent(m[1]), audience: body.audience, includeEmail: body.includeEmail, auth_ok: req.headers.authorization === `Bearer ${accessToken}` });
      if (fail.iam) return reply(res, fail.iam, { error: { code: fail.iam, message: 'Permission \'iam.serviceAccounts.getOpenIdToken\' denied on resource (or it may not exist).', status: 'PERMISSION_DENIED' } });
      if (req.headers.authorization !== `Bearer ${accessToken}`) return reply(res, 401, { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } });
      return reply(res, 200, { token: await mint(body.audience) });
    }
    reply(res, 404, { message: 'not found' });
  } catch (e) {
    reply(res, 500, { message: String(e) });
  }
});

// --- protobuf, just what the Workload API's two messages need ---
function varint(n) {
  const out = [];
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
  out.push(n);
  return Buffer.from(out);
}
function field(tag, bytes) { return Buffer.concat([varint((tag << 3) | 2), varint(bytes.length), bytes]); }
function readStrings(buf, want) {
  const out = []; let i = 0;
  const rv = () => { let n = 0, s = 0, b; do { b = buf[i++]; n |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return n; };
  while (i < buf.length) {
    const key = rv(); const tag = key >> 3; const wt = key & 7;
    if (wt !== 2) throw new Error('unexpected wire type');
    const len = rv(); const v = buf.subarray(i, i + len); i += len;
    if (tag === want) out.push(v.toString());
  }
  return out;
}

let h2server = null;
if (cfg.socket) {
  h2server = http2.createServer();
  h2server.on('stream', (stream, headers) => {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', async () => {
      const trailersOnly = (code, msg) => stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': encodeURIComponent(msg) }, { endStream: true });
      try {
        const buf = Buffer.concat(chunks);
        const msg = buf.subarray(5, 5 + buf.readUInt32BE(1));
        const audience = readStrings(msg, 1);
        log({ service: 'spiffe', path: headers[':path'], method: headers[':method'], audience, security_header: headers['workload.spiffe.io'], content_type: headers['content-type'] });
        if (headers[':path'] !== '/SpiffeWorkloadAPI/FetchJWTSVID') return trailersOnly(12, 'unknown method');
        if (headers['workload.spiffe.io'] !== 'true') return trailersOnly(3, 'security header missing from request');
        if (fail.spiffe) return trailersOnly(fail.spiffe, 'no identity issued');
        if (audience.length === 0) return trailersOnly(3, 'audience must be specified');
        const token = await mint(audience[0]);
        const svid = Buffer.concat([field(1, Buffer.from('spiffe://testbed.example/workload')), field(2, Buffer.from(token))]);
        const body = field(1, svid);
        const frame = Buffer.alloc(5); frame.writeUInt32BE(body.length, 1);
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(Buffer.concat([frame, body]));
      } catch (e) {
        try { trailersOnly(13, String(e)); } catch { /* gone */ }
      }
    });
  });
}

server.listen(0, '127.0.0.1', () => {
  const ready = () => process.stdout.write(JSON.stringify({ port: server.address().port, socket: cfg.socket || null }) + '\n');
  if (h2server) h2server.listen(cfg.socket, ready); else ready();
});
process.stdin.resume();
process.stdin.on('end', () => { try { if (cfg.socket) fs.unlinkSync(cfg.socket); } catch { /* gone */ } process.exit(0); });
