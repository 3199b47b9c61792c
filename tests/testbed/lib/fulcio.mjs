// Fulcio v2 stand-in: /api/v2/signingCert, /api/v2/trustBundle, /api/v2/configuration.
import crypto from 'node:crypto';
import { jwtVerify, createLocalJWKSet, decodeJwt } from 'jose';
import * as d from './der.mjs';
import * as x from './x509.mjs';
import { HttpError, readBody, parseJson, send, sleep } from './util.mjs';

// Fulcio's client-facing messages (pkg/api/error.go)
const MSG = {
  invalidSignature: 'The signature supplied in the request could not be verified',
  invalidPublicKey: 'The public key supplied in the request could not be parsed',
  insecurePublicKey: 'The public key supplied in the request is insecure',
  invalidCSR: 'The certificate signing request could not be parsed',
  invalidIdentityToken: 'There was an error processing the identity token',
  invalidCredentials: 'There was an error processing the credentials for this request',
  genericCAError: 'Error communicating with CA backend',
};
// grpc-gateway error body: {code: <grpc code>, message, details: []}
const grpcErr = (http, grpc, message) => new HttpError(http, { code: grpc, message, details: [] });
const badRequest = (m) => grpcErr(400, 3, m);
const unauthenticated = (m) => grpcErr(401, 16, m);
const internal = (m) => grpcErr(500, 13, m);

// ---- RFC 6962 SCTs ----
const u16 = (n) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u24 = (n) => Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
const u64 = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };

function sctSignedData({ timestamp, precert, issuerKeyHash, tbs, certDer, extensions = Buffer.alloc(0) }) {
  return Buffer.concat([
    Buffer.from([0, 0]), // v1, certificate_timestamp
    u64(timestamp),
    precert ? Buffer.concat([u16(1), issuerKeyHash, u24(tbs.length), tbs]) : Buffer.concat([u16(0), u24(certDer.length), certDer]),
    u16(extensions.length), extensions,
  ]);
}
function serializeSct({ logId, timestamp, sig, extensions = Buffer.alloc(0) }) {
  return Buffer.concat([Buffer.from([0]), logId, u64(timestamp), u16(extensions.length), extensions, Buffer.from([4, 3]), u16(sig.length), sig]);
}

// ---- JWKS cache for token verification ----
async function fetchJwks(issuer, cache) {
  const hit = cache.get(issuer);
  if (hit && Date.now() - hit.at < 5000) return hit.jwks;
  const disc = await (await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5000) })).json();
  if (disc.issuer !== issuer) throw new Error(`discovery issuer mismatch: ${disc.issuer}`);
  const keys = await (await fetch(disc.jwks_uri, { signal: AbortSignal.timeout(5000) })).json();
  const jwks = createLocalJWKSet(keys);
  cache.set(issuer, { at: Date.now(), jwks });
  return jwks;
}

export function makeFulcio({ state }) {
  const { faults, stats, log } = state;
  const jwksCache = new Map();

  // issuers: url -> {type: 'email'|'github-workflow'}
  function issuerConfig(iss) { return state.fulcioIssuers.get(iss); }

  async function authenticate(token) {
    let claims;
    try { claims = decodeJwt(token); } catch (e) { throw unauthenticated(`${MSG.invalidIdentityToken}: ${e.message}`); }
    const cfg = issuerConfig(claims.iss);
    if (!cfg) throw unauthenticated(`${MSG.invalidIdentityToken}: failed to match issuer URL ${claims.iss} from token with any configured providers`);
    let payload;
    try {
      const jwks = await fetchJwks(claims.iss, jwksCache);
      ({ payload } = await jwtVerify(token, jwks, { issuer: claims.iss, audience: 'sigstore', algorithms: ['RS256', 'ES256', 'ES384', 'PS256', 'EdDSA'] }));
    } catch (e) {
      throw unauthenticated(`${MSG.invalidIdentityToken}: ${e.code || ''} ${e.message}`.trim());
    }
    return { cfg, payload };
  }

  // Returns {challenge, san: DER extension, exts: [DER extensions]}
  function principal(cfg, p) {
    if (cfg.type === 'email') {
      if (typeof p.email !== 'string') throw unauthenticated(`${MSG.invalidIdentityToken}: token missing email claim`);
      const verified = p.email_verified === true || p.email_verified === 'true';
      if (!verified) throw unauthenticated(`${MSG.invalidIdentityToken}: email_verified claim was false`);
      if (!/^.+@.+\..+$/.test(p.email)) throw unauthenticated(`${MSG.invalidIdentityToken}: email address is not valid`);
      return {
        challenge: p.email,
        san: x.ext(x.OID.subjectAltName, d.seq(d.implicit(1, Buffer.from(p.email, 'latin1'), false)), true),
        exts: issuerExts(p.iss),
      };
    }
    if (cfg.type === 'github-workflow') {
      const need = ['sub', 'job_workflow_ref', 'event_name', 'sha', 'workflow', 'repository', 'ref', 'job_workflow_sha', 'runner_environment',
        'repository_id', 'repository_owner', 'repository_owner_id', 'workflow_ref', 'workflow_sha', 'run_id', 'run_attempt', 'repository_visibility'];
      for (const k of need) if (p[k] === undefined) throw badRequest(`${MSG.invalidIdentityToken}: value <${k}> not present in either claims or defaults. Issuer: ${p.iss}`);
      const gh = 'https://github.com';
      const uri = `${gh}/${p.job_workflow_ref}`;
      const s = (v) => String(v);
      const raw = (n, v) => x.ext(x.OID.fulcio(n), Buffer.from(s(v), 'utf8'));
      const utf = (n, v) => x.ext(x.OID.fulcio(n), d.utf8(s(v)));
      return {
        challenge: p.sub,
        san: x.ext(x.OID.subjectAltName, d.seq(d.implicit(6, Buffer.from(uri, 'latin1'), false)), true),
        exts: [
          x.ext(x.OID.fulcio(1), Buffer.from(p.iss, 'utf8')),
          raw(2, p.event_name), raw(3, p.sha), raw(4, p.workflow), raw(5, p.repository), raw(6, p.ref),
          utf(8, p.iss),
          utf(9, uri),
          utf(10, p.job_workflow_sha),
          utf(11, p.runner_environment),
          utf(12, `${gh}/${p.repository}`),
          utf(13, p.sha),
          utf(14, p.ref),
          utf(15, p.repository_id),
          utf(16, `${gh}/${p.repository_owner}`),
          utf(17, p.repository_owner_id),
          utf(18, `${gh}/${p.workflow_ref}`),
          utf(19, p.workflow_sha),
          utf(20, p.event_name),
          utf(21, `${gh}/${p.repository}/actions/runs/${p.run_id}/attempts/${p.run_attempt}`),
          utf(22, p.repository_visibility),
        ],
      };
    }
    throw internal(`unsupported issuer type ${cfg.type}`);
  }
  const issuerExts = (iss) => [x.ext(x.OID.fulcio(1), Buffer.from(iss, 'utf8')), x.ext(x.OID.fulcio(8), d.utf8(iss))];

  function checkKey(publicKey) {
    const t = publicKey.asymmetricKeyType;
    if (t === 'ec') {
      if (!['prime256v1', 'secp384r1', 'secp521r1'].includes(publicKey.asymmetricKeyDetails.namedCurve)) throw badRequest(MSG.insecurePublicKey);
    } else if (t === 'rsa') {
      const bits = publicKey.asymmetricKeyDetails.modulusLength;
      if (bits < 2048 || bits > 4096) throw badRequest(MSG.insecurePublicKey);
    } else if (t !== 'ed25519') throw badRequest(MSG.insecurePublicKey);
  }

  function parsePublicKey(content) {
    if (typeof content !== 'string' || !content) throw badRequest(MSG.invalidPublicKey);
    let der;
    const pem = d.fromPem(content);
    if (pem.length) {
      if (pem[0].label !== 'PUBLIC KEY') throw badRequest(MSG.invalidPublicKey);
      der = pem[0].der;
    } else der = Buffer.from(content, 'base64');
    try {
      const publicKey = crypto.createPublicKey({ key: der, format: 'der', type: 'spki' });
      return { publicKey, spki: x.spkiDer(publicKey) };
    } catch { throw badRequest(MSG.invalidPublicKey); }
  }

  function verifyPop(publicKey, proofB64, challenge) {
    const sig = Buffer.from(String(proofB64 || ''), 'base64');
    if (!sig.length) throw badRequest(MSG.invalidSignature);
    const msg = Buffer.from(challenge, 'utf8');
    const t = publicKey.asymmetricKeyType;
    let hashes = ['sha256'];
    if (t === 'ed25519') hashes = [null];
    else if (t === 'ec') {
      const crv = publicKey.asymmetricKeyDetails.namedCurve;
      if (crv === 'secp384r1') hashes.push('sha384');
      if (crv === 'secp521r1') hashes.push('sha512');
    }
    for (const h of hashes) {
      try {
        if (crypto.verify(h, msg, publicKey, sig)) return;
        if (t === 'rsa' && crypto.verify(h, msg, { key: publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING }, sig)) return;
      } catch { /* try next */ }
    }
    throw badRequest(MSG.invalidSignature);
  }

  function issue({ spki, san, exts, ca, ttlSec, sctMode }) {
    const notBefore = new Date((Math.floor(Date.now() / 1000) - Number(state.config.certBackdate || 0)) * 1000);
    const notAfter = new Date(notBefore.getTime() + ttlSec * 1000);
    const base = {
      serial: x.randomSerial(), sigOid: x.sigOidFor(ca.key), issuer: ca.subject, notBefore, notAfter, subject: d.seq(), spki,
    };
    const baseExts = [
      x.keyUsageDigitalSignature(),
      x.ext(x.OID.extKeyUsage, x.eku(x.OID.codeSigning)),
      x.ext(x.OID.subjectKeyId, d.octet(x.keyId(spki))),
      x.ext(x.OID.authorityKeyId, x.akiValue(ca.spki)),
      san,
      ...exts,
    ];
    const ct = state.ct;
    const timestamp = Date.now();
    if (sctMode === 'embedded' || sctMode === 'bad') {
      // precertificate TBS = final TBS without the SCT list (poison removed)
      const precertTbs = x.buildTbs({ ...base, extensions: baseExts });
      const issuerKeyHash = crypto.createHash('sha256').update(ca.spki).digest();
      const signed = sctSignedData({ timestamp, precert: true, issuerKeyHash, tbs: precertTbs });
      const sig = crypto.sign('sha256', signed, sctMode === 'bad' ? ct.badKey : ct.key);
      const sct = serializeSct({ logId: ct.logId, timestamp, sig });
      const list = Buffer.concat([u16(sct.length + 2), u16(sct.length), sct]);
      const tbs = x.buildTbs({ ...base, extensions: [...baseExts, x.ext(x.OID.sctList, d.octet(list))] });
      return { cert: x.signTbs(tbs, ca.key) };
    }
    const cert = x.signTbs(x.buildTbs({ ...base, extensions: baseExts }), ca.key);
    if (sctMode === 'detached') {
      const sig = crypto.sign('sha256', sctSignedData({ timestamp, precert: false, certDer: cert }), ct.key);
      const ds = Buffer.concat([Buffer.from([4, 3]), u16(sig.length), sig]);
      const sctJson = { sct_version: 0, id: ct.logId.toString('base64'), timestamp, extensions: '', signature: ds.toString('base64') };
      return { cert, detachedSct: Buffer.from(JSON.stringify(sctJson)).toString('base64') };
    }
    return { cert };
  }

  async function signingCert(req, body) {
    const delay = faults.take('fulcio', 'slow');
    if (delay) await sleep(Number(delay.value) || 2000);
    if (faults.take('fulcio', 'http400')) throw badRequest('testbed fault fulcio.http400');
    if (faults.take('fulcio', 'http401')) throw unauthenticated(`${MSG.invalidIdentityToken} (testbed fault fulcio.http401)`);
    if (faults.take('fulcio', 'http500')) throw internal(`${MSG.genericCAError} (testbed fault fulcio.http500)`);
    const reqJson = parseJson(body, (m) => ({ code: 3, message: m, details: [] }));
    if (!reqJson || typeof reqJson !== 'object') throw badRequest('request body must be a JSON object');
    let token = reqJson.credentials?.oidcIdentityToken;
    const auth = req.headers.authorization;
    if (!token && auth && /^bearer\s+/i.test(auth)) token = auth.replace(/^bearer\s+/i, '').trim();
    if (!token) throw unauthenticated(MSG.invalidCredentials);
    const { cfg, payload } = await authenticate(token);
    const pr = principal(cfg, payload);

    let spki;
    if (reqJson.publicKeyRequest) {
      const { publicKey, proofOfPossession } = reqJson.publicKeyRequest;
      const parsed = parsePublicKey(publicKey?.content);
      checkKey(parsed.publicKey);
      verifyPop(parsed.publicKey, proofOfPossession, pr.challenge);
      spki = parsed.spki;
    } else if (reqJson.certificateSigningRequest) {
      let csrDer;
      try {
        const raw = Buffer.from(reqJson.certificateSigningRequest, 'base64');
        const pem = d.fromPem(raw.toString('latin1'));
        csrDer = pem.length ? pem[0].der : raw;
        if (pem.length && pem[0].label !== 'CERTIFICATE REQUEST') throw new Error('not a CSR');
      } catch { throw badRequest(MSG.invalidCSR); }
      let parsed;
      try { parsed = x.parseAndVerifyCsr(csrDer); } catch (e) { throw badRequest(`${MSG.invalidCSR}: ${e.message}`); }
      checkKey(parsed.publicKey);
      spki = parsed.spki;
    } else throw badRequest('one of publicKeyRequest or certificateSigningRequest is required');

    const badChain = faults.take('fulcio', 'bad-chain');
    const ca = badChain ? state.rogueCa : state.ca;
    const ttlFault = faults.take('fulcio', 'cert-ttl');
    const ttlSec = ttlFault ? Number(ttlFault.value ?? 30) : state.config.certTtl;
    let sctMode = 'embedded';
    if (faults.take('fulcio', 'detached-sct')) sctMode = 'detached';
    else if (faults.take('fulcio', 'bad-sct')) sctMode = 'bad';
    else if (faults.take('fulcio', 'no-sct')) sctMode = 'none';
    const { cert, detachedSct } = issue({ spki, san: pr.san, exts: pr.exts, ca, ttlSec, sctMode });
    stats.fulcio_certificates += 1;
    const chain = { certificates: [d.toPem(cert), ca.intermediate.pem, ca.root.pem] };
    if (sctMode === 'detached') return { signedCertificateDetachedSct: { chain, signedCertificateTimestamp: detachedSct } };
    return { signedCertificateEmbeddedSct: { chain } };
  }

  async function handler(req, res, url) {
    if (url.pathname === '/api/v2/signingCert') {
      if (req.method !== 'POST') throw grpcErr(405, 12, 'Method Not Allowed');
      const body = await readBody(req);
      const out = await signingCert(req, body);
      return send(res, 200, out);
    }
    if (url.pathname === '/api/v2/trustBundle' && req.method === 'GET') {
      return send(res, 200, { chains: [{ certificates: [state.ca.intermediate.pem, state.ca.root.pem] }] });
    }
    if (url.pathname === '/api/v2/configuration' && req.method === 'GET') {
      return send(res, 200, {
        issuers: [...state.fulcioIssuers].map(([u, c]) => ({ issuerUrl: u, audience: 'sigstore', challengeClaim: c.type === 'email' ? 'email' : 'sub' })),
      });
    }
    if (url.pathname === '/healthz') return send(res, 200, { status: 'SERVING' });
    throw grpcErr(404, 5, 'Not Found');
  }

  return { handler };
}
