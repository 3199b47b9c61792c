#!/usr/bin/env node
// The gitsign testbed: OIDC provider, Fulcio, Rekor, TSA, a GitHub-Actions-like
// issuer and a control API, each on its own random port on 127.0.0.1.
//
//   node server.mjs --state DIR [--parent PID] [--max-lifetime SECONDS] [--email EMAIL]
//
// Writes DIR/env.json and DIR/env.sh once every service answers; see README.md.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as d from './lib/der.mjs';
import * as x from './lib/x509.mjs';
import { listen, send, readBody, parseJson, Faults, HttpError, rfc3339 } from './lib/util.mjs';
import { makeOidc } from './lib/oidc.mjs';
import { makeFulcio } from './lib/fulcio.mjs';
import { makeRekor } from './lib/rekor.mjs';
import { makeRekor2 } from './lib/rekor2.mjs';
import { makeTsa } from './lib/tsa.mjs';
import { makeGha, defaultGhaClaims } from './lib/gha.mjs';
import { makeTuf } from './lib/tuf.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const t0 = Date.now();

function parseArgs(argv) {
  const a = { parent: null, maxLifetime: null, email: 'testbed-user@example.com' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => { if (i + 1 >= argv.length) throw new Error(`${k} needs a value`); return argv[++i]; };
    if (k === '--state') a.state = v();
    else if (k === '--parent') a.parent = Number(v());
    else if (k === '--max-lifetime') a.maxLifetime = Number(v());
    else if (k === '--email') a.email = v();
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.state) throw new Error('--state DIR is required');
  return a;
}

const args = parseArgs(process.argv.slice(2));
const STATE = path.resolve(args.state);
fs.mkdirSync(STATE, { recursive: true });
const log = (m) => process.stderr.write(`[testbed ${new Date().toISOString()}] ${m}\n`);

const state = {
  faults: new Faults(),
  stats: {
    logins: 0, authorizations: 0, device_authorizations: 0, device_approvals: 0, device_tokens: 0, tokens: 0, token_drops: 0,
    minted_tokens: 0, gha_tokens: 0, opener_calls: 0, fulcio_certificates: 0, rekor_entries: 0, rekor2_entries: 0, tsa_timestamps: 0,
    tuf_requests: 0,
  },
  config: {
    deviceInterval: 1, // seconds; null = omit `interval` from the device authorization response (RFC 8628 default 5 s)
    deviceApproveDelayMs: 300,
    certTtl: 600,
    certBackdate: 0, // seconds Fulcio's certificates started before they are issued (notBefore = now - certBackdate)
    idTokenTtl: 600,
    anyLoopbackPath: true,
  },
  log,
  defaultEmail: args.email,
  opens: [],
  pendingDevice: new Map(),
  ghaClaims: {},
};

const genKeyPair = promisify(crypto.generateKeyPair);
async function rsaJwk() {
  const { privateKey } = await genKeyPair('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const pub = { kty: jwk.kty, n: jwk.n, e: jwk.e };
  const kid = crypto.createHash('sha256').update(JSON.stringify(pub)).digest('base64url').slice(0, 22);
  return { ...jwk, kid, alg: 'RS256', use: 'sig' };
}

async function main() {
  // 1. ports first: the issuer URLs embed them
  const handlers = {};
  const mk = (name) => listen(name, (req, res, url) => {
    if (!handlers[name]) throw new HttpError(503, { code: 503, message: 'starting' });
    return handlers[name](req, res, url);
  }, log);
  const [oidcL, fulcioL, rekorL, rekor2L, tsaL, ghaL, ctlL, tufL] = await Promise.all(['oidc', 'fulcio', 'rekor', 'rekor2', 'tsa', 'gha', 'control', 'tuf'].map(mk));
  const servers = [oidcL, fulcioL, rekorL, rekor2L, tsaL, ghaL, ctlL, tufL];

  // 2. keys and certificates
  const [oidcJwk, ghaJwk] = await Promise.all([rsaJwk(), rsaJwk()]);
  const now = Date.now();
  const caStart = new Date(Math.floor(now / 1000) * 1000 - 24 * 3600 * 1000);
  const caEnd = new Date(caStart.getTime() + 10 * 365 * 24 * 3600 * 1000);
  const mkFulcioCa = () => {
    const root = x.makeRootCa({ subject: { organization: 'gitsign-testbed', commonName: 'testbed-fulcio-root' }, notBefore: caStart, notAfter: caEnd });
    const intermediate = x.makeIntermediateCa({ parent: root, subject: { organization: 'gitsign-testbed', commonName: 'testbed-fulcio-intermediate' }, notBefore: caStart, notAfter: caEnd });
    return { root, intermediate, key: intermediate.key, subject: intermediate.subject, spki: intermediate.spki };
  };
  state.ca = mkFulcioCa();
  state.rogueCa = mkFulcioCa(); // same names, different keys: not in the trusted root
  const ctKey = x.genEc('P-256'); const ctBad = x.genEc('P-256');
  const ctSpki = x.spkiDer(ctKey.publicKey);
  state.ct = { key: ctKey.privateKey, badKey: ctBad.privateKey, spki: ctSpki, logId: crypto.createHash('sha256').update(ctSpki).digest() };
  const rk = x.genEc('P-256'); const rkAlt = x.genEc('P-256');
  const rkSpki = x.spkiDer(rk.publicKey); const rkAltSpki = x.spkiDer(rkAlt.publicKey);
  state.rekorKeys = {
    key: rk.privateKey, spki: rkSpki, logIdHex: crypto.createHash('sha256').update(rkSpki).digest('hex'),
    altKey: rkAlt.privateKey, altSpki: rkAltSpki, altLogIdHex: crypto.createHash('sha256').update(rkAltSpki).digest('hex'),
  };
  const ed = () => crypto.generateKeyPairSync('ed25519');
  state.rekor2Keys = { key: ed(), witnessKey: ed(), otherKey: ed() };
  state.rekorTreeId = BigInt('0x' + crypto.randomBytes(8).toString('hex')) & 0x7fffffffffffffffn;
  const tsaRoot = x.makeRootCa({ subject: { organization: 'gitsign-testbed', commonName: 'testbed-tsa-root' }, notBefore: caStart, notAfter: caEnd, pathLen: 0 });
  const tsaLeaf = x.makeTsaLeaf({ parent: tsaRoot, subject: { organization: 'gitsign-testbed', commonName: 'testbed-tsa' }, notBefore: caStart, notAfter: caEnd });
  state.tsa = { root: tsaRoot, leaf: tsaLeaf };

  // 3. services
  const issuer = oidcL.url;
  state.fulcioIssuers = new Map([[issuer, { type: 'email' }], [ghaL.url, { type: 'github-workflow' }]]);
  const oidc = await makeOidc({ issuer, jwk: oidcJwk, state });
  const fulcio = makeFulcio({ state });
  const rekor = makeRekor({ state, hostname: new URL(rekorL.url).host });
  // Rekor v2's origin (and checkpoint key name): its URL without the scheme.
  const rekor2 = makeRekor2({ state, origin: new URL(rekor2L.url).host });
  const tsa = makeTsa({ state });
  const gha = makeGha({ state, issuer: ghaL.url, jwk: ghaJwk });
  handlers.oidc = oidc.handler;
  handlers.fulcio = fulcio.handler;
  handlers.rekor = rekor.handler;
  handlers.rekor2 = rekor2.handler;
  handlers.tsa = tsa.handler;
  handlers.gha = gha.handler;

  // 4. trust material
  const start = rfc3339(caStart);
  const b64 = (b) => Buffer.from(b).toString('base64');
  const tsaUrl = `${tsaL.url}/api/v1/timestamp`;
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [{
      baseUrl: rekorL.url,
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: b64(rkSpki), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } },
      logId: { keyId: b64(Buffer.from(state.rekorKeys.logIdHex, 'hex')) },
    }, {
      // Rekor v2: an Ed25519 checkpoint key; the log id is its C2SP key ID.
      baseUrl: rekor2L.url,
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: b64(x.spkiDer(state.rekor2Keys.key.publicKey)), keyDetails: 'PKIX_ED25519', validFor: { start } },
      logId: { keyId: b64(rekor2.logId) },
    }],
    certificateAuthorities: [{
      subject: { organization: 'gitsign-testbed', commonName: 'testbed-fulcio-root' },
      uri: fulcioL.url,
      certChain: { certificates: [{ rawBytes: b64(state.ca.intermediate.cert) }, { rawBytes: b64(state.ca.root.cert) }] },
      validFor: { start },
    }],
    ctlogs: [{
      baseUrl: `${fulcioL.url}/ct`,
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: b64(ctSpki), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start } },
      logId: { keyId: b64(state.ct.logId) },
    }],
    timestampAuthorities: [{
      subject: { organization: 'gitsign-testbed', commonName: 'testbed-tsa-root' },
      uri: tsaUrl,
      certChain: { certificates: [{ rawBytes: b64(tsaLeaf.cert) }, { rawBytes: b64(tsaRoot.cert) }] },
      validFor: { start },
    }],
  };
  const svc = (url) => ({ url, majorApiVersion: 1, validFor: { start }, operator: 'gitsign-testbed' });
  const signingConfig = {
    mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
    caUrls: [svc(fulcioL.url)],
    oidcUrls: [svc(issuer)],
    rekorTlogUrls: [svc(rekorL.url)],
    tsaUrls: [svc(tsaUrl)],
    rekorTlogConfig: { selector: 'ANY' },
    tsaConfig: { selector: 'ANY' },
  };
  const signingConfigV2 = { ...signingConfig, rekorTlogUrls: [{ ...svc(rekor2L.url), majorApiVersion: 2 }] };
  const ctc = { mediaType: 'application/vnd.dev.sigstore.clienttrustconfig.v0.1+json', trustedRoot, signingConfig };
  const ctcV2 = { ...ctc, signingConfig: signingConfigV2 };
  const wj = (name, obj) => { const p = path.join(STATE, name); fs.writeFileSync(p, JSON.stringify(obj, null, 2) + '\n'); return p; };
  const trPath = wj('trusted_root.json', trustedRoot);
  const scPath = wj('signing_config.json', signingConfig);
  const ctcPath = wj('ctc.json', ctc);
  const scV2Path = wj('signing_config_rekor_v2.json', signingConfigV2);
  const ctcV2Path = wj('ctc_rekor_v2.json', ctcV2);
  fs.writeFileSync(path.join(STATE, 'rekor2_pub.pem'), d.toPem(x.spkiDer(state.rekor2Keys.key.publicKey), 'PUBLIC KEY'));
  fs.writeFileSync(path.join(STATE, 'fulcio_chain.pem'), state.ca.intermediate.pem + state.ca.root.pem);
  fs.writeFileSync(path.join(STATE, 'fulcio_root.pem'), state.ca.root.pem);
  fs.writeFileSync(path.join(STATE, 'tsa_chain.pem'), tsaLeaf.pem + tsaRoot.pem);
  fs.writeFileSync(path.join(STATE, 'rekor_pub.pem'), d.toPem(rkSpki, 'PUBLIC KEY'));
  fs.writeFileSync(path.join(STATE, 'ctlog_pub.pem'), d.toPem(ctSpki, 'PUBLIC KEY'));
  fs.writeFileSync(path.join(STATE, 'opens.log'), '');

  // A new trusted root version: Rekor signs with a new key from now on;
  // the old key stays trusted for what it signed (validFor ends now).
  function newTrustedRoot() {
    const k = x.genEc('P-256');
    const spki = x.spkiDer(k.publicKey);
    const at = rfc3339(new Date(Math.floor(Date.now() / 1000) * 1000));
    const old = trustedRoot.tlogs[trustedRoot.tlogs.length - 1];
    old.publicKey.validFor.end = at;
    Object.assign(state.rekorKeys, { key: k.privateKey, spki, logIdHex: crypto.createHash('sha256').update(spki).digest('hex') });
    trustedRoot.tlogs.push({
      baseUrl: rekorL.url,
      hashAlgorithm: 'SHA2_256',
      publicKey: { rawBytes: b64(spki), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: at } },
      logId: { keyId: b64(Buffer.from(state.rekorKeys.logIdHex, 'hex')) },
    });
    wj('trusted_root.json', trustedRoot);
    wj('ctc.json', { ...ctc, trustedRoot });
    fs.writeFileSync(path.join(STATE, 'rekor_pub.pem'), d.toPem(spki, 'PUBLIC KEY'));
    log(`new trusted root: Rekor key ${state.rekorKeys.logIdHex}`);
  }
  const tuf = makeTuf({ state, here: HERE, stateDir: STATE, trustFiles: { trustedRoot: trPath, signingConfig: scPath }, onNewTrustedRoot: newTrustedRoot });
  handlers.tuf = tuf.handler;
  let tufEnv = {};
  try {
    await tuf.prepare();
    tufEnv = { TESTBED_TUF_MIRROR: tufL.url, TESTBED_TUF_ROOT: tuf.rootPath };
  } catch (e) {
    log(`no TUF mirror: preparing its seed failed: ${e.stack || e}`);
  }

  // Per-instance opener: bakes this instance's control URL in, so it works
  // even when the client under test scrubs its environment.
  const openerPath = path.join(STATE, 'open-url');
  fs.writeFileSync(openerPath, `#!/bin/sh\nTESTBED_URL='${ctlL.url}' TESTBED_STATE='${STATE}' exec '${path.join(HERE, 'open-url')}' "$@"\n`, { mode: 0o755 });

  const env = {
    GITSIGN_FULCIO_URL: fulcioL.url,
    GITSIGN_REKOR_URL: rekorL.url,
    GITSIGN_OIDC_ISSUER: issuer,
    GITSIGN_OIDC_CLIENT_ID: 'sigstore',
    GITSIGN_TRUSTED_ROOT: trPath,
    GITSIGN_URL_OPENER: openerPath,
    TESTBED_URL: ctlL.url,
    TESTBED_STATE: STATE,
    TESTBED_TSA_URL: tsaUrl,
    TESTBED_CTC: ctcPath,
    TESTBED_SIGNING_CONFIG: scPath,
    TESTBED_REKOR_V2_URL: rekor2L.url,
    TESTBED_SIGNING_CONFIG_REKOR_V2: scV2Path,
    TESTBED_CTC_REKOR_V2: ctcV2Path,
    TESTBED_ACTIONS_ID_TOKEN_REQUEST_URL: gha.requestUrl,
    TESTBED_ACTIONS_ID_TOKEN_REQUEST_TOKEN: gha.requestToken,
    TESTBED_GHA_ISSUER: ghaL.url,
    TESTBED_EMAIL: args.email,
    ...tufEnv,
  };

  // 5. control API
  let shuttingDown = false;
  async function shutdown(code = 0, why = '') {
    if (shuttingDown) return;
    shuttingDown = true;
    log(`shutting down${why ? ` (${why})` : ''}`);
    for (const s of servers) { s.server.closeAllConnections?.(); s.server.close(); }
    setTimeout(() => process.exit(code), 50).unref();
  }

  function normFault(f) {
    if (!f || typeof f !== 'object') throw new HttpError(400, { error: 'fault must be an object' });
    let { service, fault } = f;
    if (!service && typeof fault === 'string' && fault.includes('.')) [service, fault] = [fault.slice(0, fault.indexOf('.')), fault.slice(fault.indexOf('.') + 1)];
    const known = {
      oidc: ['deny', 'state-mismatch', 'iss-mismatch', 'iss-missing', 'never', 'slow', 'device-deny', 'device-expire', 'device-manual', 'token-drop'],
      fulcio: ['http400', 'http401', 'http500', 'slow', 'bad-chain', 'bad-sct', 'no-sct', 'detached-sct', 'cert-ttl'],
      rekor: ['http500', 'slow', 'bad-set', 'bad-proof', 'bad-checkpoint', 'wrong-log-key', 'no-set', 'no-checkpoint', 'self-rooted', 'checkpoint-origin', 'checkpoint-name', 'checkpoint-size', 'search-union', 'integrated-time', 'search-all'],
      rekor2: ['http500', 'slow', 'bad-proof', 'bad-checkpoint', 'checkpoint-origin', 'witness'],
      tsa: ['http500', 'slow', 'gen-time'],
      gha: ['http500'],
      tuf: ['down', 'http500', 'huge', 'tamper-target'],
    };
    if (!known[service]?.includes(fault)) throw new HttpError(400, { error: `unknown fault ${service}.${fault}`, known });
    return { service, fault, count: f.count ?? null, value: f.value ?? null };
  }

  handlers.control = async (req, res, url) => {
    const p = url.pathname; const m = req.method;
    const body = async () => {
      const raw = await readBody(req);
      const ct = (req.headers['content-type'] || '').split(';')[0];
      if (ct === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(raw.toString()));
      return parseJson(raw, (e) => ({ error: e })) || {};
    };
    if (p === '/health' || p === '/') return send(res, 200, { ok: true, pid: process.pid, uptime_ms: Date.now() - t0 });
    if (p === '/env') return send(res, 200, env);
    if (p === '/stats' && m === 'GET') return send(res, 200, state.stats);
    if (p === '/stats' && m === 'DELETE') { for (const k of Object.keys(state.stats)) state.stats[k] = 0; return send(res, 200, state.stats); }
    if (p === '/token' && m === 'POST') {
      const b = await body();
      if (b.issuer === 'gha') return send(res, 200, { id_token: await gha.mint({ audience: b.aud ?? 'sigstore', ttl: b.ttl ?? 300, claims: b.claims || {} }) });
      return send(res, 200, { id_token: await oidc.mint(b) });
    }
    if (p === '/account' && m === 'GET') return send(res, 200, state.account);
    if (p === '/account' && m === 'POST') {
      const b = await body();
      if (typeof b.email !== 'string' || !b.email) throw new HttpError(400, { error: 'email is required' });
      const { accountFor } = await import('./lib/oidc.mjs');
      state.useAccount(accountFor(b.email, { sub: b.sub, email_verified: b.email_verified }));
      return send(res, 200, state.account);
    }
    if (p === '/faults' && m === 'GET') return send(res, 200, { faults: state.faults.list() });
    if (p === '/faults' && m === 'POST') {
      const b = await body();
      const list = Array.isArray(b) ? b : Array.isArray(b.faults) ? b.faults : [b];
      const norm = list.map(normFault);
      for (const f of norm) {
        if (f.count !== null) f.count = Number(f.count);
        state.faults.set(f.service, f.fault, { count: f.count, value: f.value });
      }
      return send(res, 200, { faults: state.faults.list() });
    }
    if (p === '/faults' && m === 'DELETE') {
      state.faults.clear(url.searchParams.get('service') || undefined, url.searchParams.get('fault') || undefined);
      return send(res, 200, { faults: state.faults.list() });
    }
    if (p === '/config' && m === 'GET') return send(res, 200, state.config);
    if (p === '/config' && m === 'POST') {
      const b = await body();
      for (const [k, v] of Object.entries(b)) {
        if (!(k in state.config)) throw new HttpError(400, { error: `unknown config key ${k}`, known: Object.keys(state.config) });
        state.config[k] = v;
      }
      return send(res, 200, state.config);
    }
    if (p === '/open' && m === 'POST') {
      const b = await body();
      const target = b.url;
      if (typeof target !== 'string') throw new HttpError(400, { error: 'url is required' });
      state.stats.opener_calls += 1;
      const job = oidc.openUrl(target).catch((e) => { log(`open-url failed: ${e.stack || e}`); return { url: target, result: `error: ${e.message}` }; });
      if (url.searchParams.get('wait')) return send(res, 200, await job);
      return send(res, 202, { accepted: true });
    }
    if (p === '/opens' && m === 'GET') return send(res, 200, state.opens);
    if (p === '/device/pending' && m === 'GET') return send(res, 200, [...state.pendingDevice.values()]);
    if (p === '/device/approve' && m === 'POST') {
      const b = await body();
      if (typeof b.user_code !== 'string') throw new HttpError(400, { error: 'user_code is required' });
      return send(res, 200, await oidc.approveDevice(b.user_code, { deny: !!b.deny }));
    }
    if (p === '/gha/claims' && m === 'GET') return send(res, 200, { ...defaultGhaClaims(), ...state.ghaClaims });
    if (p === '/gha/claims' && m === 'POST') { Object.assign(state.ghaClaims, await body()); return send(res, 200, state.ghaClaims); }
    if (p === '/gha/claims' && m === 'DELETE') { state.ghaClaims = {}; return send(res, 200, {}); }
    if (p === '/tuf' && m === 'POST') return send(res, 200, await tuf.control(await body()));
    if (p === '/shutdown' && m === 'POST') { send(res, 200, { ok: true }); setImmediate(() => shutdown(0, 'control API')); return undefined; }
    throw new HttpError(404, { error: `no route ${m} ${p}` });
  };

  // 6. self-check that every service answers, then publish the environment
  const probes = [
    `${issuer}/.well-known/openid-configuration`, `${fulcioL.url}/api/v2/trustBundle`, `${rekorL.url}/api/v1/log`, `${rekor2L.url}/api/v2/checkpoint`,
    `${ghaL.url}/.well-known/openid-configuration`, `${ctlL.url}/health`,
  ];
  for (const u of probes) {
    const r = await fetch(u);
    if (!r.ok) throw new Error(`self-probe ${u} answered ${r.status}`);
    await r.arrayBuffer();
  }
  fs.writeFileSync(path.join(STATE, 'pid'), `${process.pid}\n`);
  const shEsc = (v) => `'${String(v).replace(/'/g, `'\\''`)}'`;
  fs.writeFileSync(path.join(STATE, 'env.sh.tmp'), Object.entries(env).map(([k, v]) => `export ${k}=${shEsc(v)}\n`).join(''));
  fs.writeFileSync(path.join(STATE, 'env.json.tmp'), JSON.stringify(env, null, 2) + '\n');
  fs.renameSync(path.join(STATE, 'env.sh.tmp'), path.join(STATE, 'env.sh'));
  fs.renameSync(path.join(STATE, 'env.json.tmp'), path.join(STATE, 'env.json'));
  log(`ready in ${Date.now() - t0} ms: ${JSON.stringify(env)}`);

  process.on('SIGTERM', () => shutdown(0, 'SIGTERM'));
  process.on('SIGINT', () => shutdown(0, 'SIGINT'));
  process.on('SIGHUP', () => shutdown(0, 'SIGHUP'));
  if (args.parent) {
    setInterval(() => {
      try { process.kill(args.parent, 0); } catch {
        // nobody is left to run `stop`: remove the state dir too
        if (process.env.TESTBED_KEEP_STATE !== '1') fs.rmSync(STATE, { recursive: true, force: true });
        shutdown(0, `parent ${args.parent} is gone`);
      }
    }, 500);
  }
  if (args.maxLifetime) setTimeout(() => shutdown(0, 'max lifetime reached'), args.maxLifetime * 1000).unref();
}

main().catch((e) => { log(`startup failed: ${e.stack || e}`); process.exit(1); });
