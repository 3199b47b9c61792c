#!/usr/bin/env node
// prehash-check.mjs — checks lib/prehash.mjs's ECDSA verification over a digest
// (OpenSSL scalar multiplications + exact BigInt point arithmetic) against the
// testbed's previous pure-BigInt implementation (copied below unchanged as
// `referenceVerify`) and, where the digest has a known preimage, against
// Node's own crypto.verify (OpenSSL ECDSA). Every case must give the same
// answer from all of them, and the answer the case expects.
//
//   node tests/testbed/prehash-check.mjs            # 400 signatures per configuration
//   node tests/testbed/prehash-check.mjs --n 2000   # more
//   node tests/testbed/prehash-check.mjs --quick    # 16 per configuration (selftest)
//   add --bench to time old against new (per verification)
//
// Exit status 0 iff no case disagrees.
import crypto from 'node:crypto';
import { parse, children, decodeInt, seq, int } from './lib/der.mjs';
import { verifyEcdsaPrehashed } from './lib/prehash.mjs';

// ---- the reference: lib/prehash.mjs before OpenSSL was used (verbatim) ----
const CURVES = {
  'P-256': {
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
    gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
    gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
    bits: 256,
  },
  'P-384': {
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    gx: 0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
    gy: 0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
    bits: 384,
  },
};

const mod = (a, m) => { const r = a % m; return r >= 0n ? r : r + m; };
function modpow(b, e, m) {
  let r = 1n; b = mod(b, m);
  while (e > 0n) { if (e & 1n) r = (r * b) % m; b = (b * b) % m; e >>= 1n; }
  return r;
}
const inv = (a, m) => modpow(a, m - 2n, m); // m prime

// Jacobian coordinates, a = -3.
function jDouble(P, p) {
  const [X, Y, Z] = P;
  if (Y === 0n || Z === 0n) return [1n, 1n, 0n];
  const YY = (Y * Y) % p;
  const S = (4n * X * YY) % p;
  const ZZ = (Z * Z) % p;
  const M = mod(3n * (X - ZZ) * (X + ZZ), p);
  const X3 = mod(M * M - 2n * S, p);
  const Y3 = mod(M * (S - X3) - 8n * YY * YY, p);
  const Z3 = (2n * Y * Z) % p;
  return [X3, Y3, Z3];
}
function jAdd(P, Q, p) {
  if (P[2] === 0n) return Q;
  if (Q[2] === 0n) return P;
  const [X1, Y1, Z1] = P; const [X2, Y2, Z2] = Q;
  const Z1Z1 = (Z1 * Z1) % p; const Z2Z2 = (Z2 * Z2) % p;
  const U1 = (X1 * Z2Z2) % p; const U2 = (X2 * Z1Z1) % p;
  const S1 = (Y1 * Z2 * Z2Z2) % p; const S2 = (Y2 * Z1 * Z1Z1) % p;
  if (U1 === U2) return S1 === S2 ? jDouble(P, p) : [1n, 1n, 0n];
  const H = mod(U2 - U1, p); const R = mod(S2 - S1, p);
  const HH = (H * H) % p; const HHH = (H * HH) % p;
  const V = (U1 * HH) % p;
  const X3 = mod(R * R - HHH - 2n * V, p);
  const Y3 = mod(R * (V - X3) - S1 * HHH, p);
  const Z3 = (H * Z1 * Z2) % p;
  return [X3, Y3, Z3];
}
// u1*G + u2*Q (Shamir's trick)
function doubleMul(u1, G, u2, Q, p) {
  const GQ = jAdd(G, Q, p);
  let R = [1n, 1n, 0n];
  const bits = Math.max(u1.toString(2).length, u2.toString(2).length);
  for (let i = bits - 1; i >= 0; i--) {
    R = jDouble(R, p);
    const b1 = (u1 >> BigInt(i)) & 1n; const b2 = (u2 >> BigInt(i)) & 1n;
    if (b1 && b2) R = jAdd(R, GQ, p);
    else if (b1) R = jAdd(R, G, p);
    else if (b2) R = jAdd(R, Q, p);
  }
  return R;
}

const b64uInt = (s) => BigInt('0x' + Buffer.from(s, 'base64url').toString('hex'));

// Fixed-point combs: for a point used again and again (the generator, and a
// signer's key across a burst of hashedrekord uploads) precompute
// j * 16^i * P, so a scalar multiplication is one addition per 4-bit digit.
function comb(P, c) {
  const rows = [];
  let base = P;
  for (let i = 0; i < c.bits / 4; i++) {
    const row = [[1n, 1n, 0n], base];
    for (let j = 2; j < 16; j++) row.push(jAdd(row[j - 1], base, c.p));
    rows.push(row);
    for (let k = 0; k < 4; k++) base = jDouble(base, c.p);
  }
  return rows;
}
function combMul(rows, k, p, acc = [1n, 1n, 0n]) {
  for (let i = 0; i < rows.length && k > 0n; i++, k >>= 4n) {
    const d = Number(k & 15n);
    if (d) acc = jAdd(acc, rows[i][d], p);
  }
  return acc;
}
const seenKeys = new Set();
const genCombs = new Map(); // curve name -> comb of G
const keyCombs = new Map(); // "crv:x:y" -> comb of Q (small LRU)
function combFor(map, key, make) {
  let t = map.get(key);
  if (t) { map.delete(key); map.set(key, t); return t; }
  t = make();
  map.set(key, t);
  if (map.size > 32) map.delete(map.keys().next().value);
  return t;
}

// Parse a DER ECDSA-Sig-Value strictly.
function parseEcdsaSig(sig) {
  const top = parse(sig, 0);
  if (top.tag !== 0x30 || top.end !== sig.length) throw new Error('signature is not a DER ECDSA-Sig-Value');
  const [r, s, ...rest] = children(top);
  if (!r || !s || rest.length) throw new Error('signature is not a DER ECDSA-Sig-Value');
  return [decodeInt(r), decodeInt(s)];
}

function referenceVerify(publicKey, digest, sig) {
  const jwk = publicKey.export({ format: 'jwk' });
  const c = CURVES[jwk.crv];
  if (!c) throw new Error(`unsupported curve ${jwk.crv}`);
  const [r, s] = parseEcdsaSig(sig);
  if (r <= 0n || r >= c.n || s <= 0n || s >= c.n) return false;
  let e = BigInt('0x' + (Buffer.from(digest).toString('hex') || '0'));
  const dbits = digest.length * 8;
  if (dbits > c.bits) e >>= BigInt(dbits - c.bits);
  const qx = b64uInt(jwk.x); const qy = b64uInt(jwk.y);
  // on-curve check
  if (mod(qy * qy - (qx * qx * qx - 3n * qx + c.b), c.p) !== 0n) return false;
  const w = inv(s, c.n);
  const u1 = (e * w) % c.n; const u2 = (r * w) % c.n;
  // First use of a key: Shamir's trick. Again: the key's comb (built once).
  const gComb = combFor(genCombs, jwk.crv, () => comb([c.gx, c.gy, 1n], c));
  const id = `${jwk.crv}:${jwk.x}:${jwk.y}`;
  const seen = keyCombs.has(id) || seenKeys.has(id);
  seenKeys.add(id);
  if (seenKeys.size > 1024) seenKeys.clear();
  const R = seen
    ? combMul(combFor(keyCombs, id, () => comb([qx, qy, 1n], c)), u2, c.p, combMul(gComb, u1, c.p))
    : doubleMul(u1, [c.gx, c.gy, 1n], u2, [qx, qy, 1n], c.p);
  if (R[2] === 0n) return false;
  const zi = inv(R[2], c.p);
  const x = (R[0] * zi * zi) % c.p;
  return x % c.n === r;
}

// ---- helpers --------------------------------------------------------------
const args = process.argv.slice(2);
const opt = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const PER_CONFIG = Number(opt('--n') ?? (args.includes('--quick') ? 16 : 400));
const BENCH = args.includes('--bench');

const OSSL = { 'P-256': 'prime256v1', 'P-384': 'secp384r1' };
const LEN = { 'P-256': 32, 'P-384': 48 };
const toBuf = (v, len) => Buffer.from(v.toString(16).padStart(len * 2, '0'), 'hex');
const toInt = (b) => (b.length ? BigInt('0x' + b.toString('hex')) : 0n);
const randScalar = (n, len) => { for (;;) { const k = toInt(crypto.randomBytes(len)) % n; if (k) return k; } };
const HASH = { 32: 'sha256', 48: 'sha384', 64: 'sha512' };

function pointMul(crv, k) { // k*G, k in [1, n-1], natively
  const e = crypto.createECDH(OSSL[crv]);
  e.setPrivateKey(toBuf(k, LEN[crv]));
  const P = e.getPublicKey();
  return [toInt(P.subarray(1, 1 + LEN[crv])), toInt(P.subarray(1 + LEN[crv]))];
}
// DER ECDSA-Sig-Value for any integers, negative ones included.
function derInt(v) {
  if (v >= 0n) return int(v);
  let len = 1; while (-v > (1n << BigInt(8 * len - 1))) len++;
  return Buffer.concat([Buffer.from([0x02, len]), toBuf((1n << BigInt(8 * len)) + v, len)]);
}
const derSig = (r, s) => seq(derInt(r), derInt(s));
const sigInts = (sig) => { const [r, s] = children(parse(sig, 0)); return [decodeInt(r), decodeInt(s)]; };
function eOf(crv, digest) {
  let e = toInt(digest);
  const bits = LEN[crv] * 8;
  if (digest.length * 8 > bits) e >>= BigInt(digest.length * 8 - bits);
  return e;
}

function makeKey(crv) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: crv });
  const jwk = privateKey.export({ format: 'jwk' });
  const { p } = CURVES[crv];
  const y = toInt(Buffer.from(jwk.y, 'base64url'));
  const neg = crypto.createPublicKey({ format: 'jwk', key: { kty: 'EC', crv, x: jwk.x, y: toBuf(p - y, LEN[crv]).toString('base64url') } });
  return { crv, privateKey, publicKey, neg, d: toInt(Buffer.from(jwk.d, 'base64url')) };
}
// ECDSA signature with a chosen nonce (or a random one) over a digest.
function signDigest(key, digest, nonce) {
  const { n } = CURVES[key.crv];
  const e = eOf(key.crv, digest);
  for (;;) {
    const k = nonce ?? randScalar(n, LEN[key.crv]);
    const r = pointMul(key.crv, k)[0] % n;
    const s = (inv(k, n) * mod(e + r * key.d, n)) % n;
    if (r && s) return [r, s];
    if (nonce) throw new Error('nonce gives r or s = 0');
  }
}

// ---- running cases ---------------------------------------------------------
const counts = new Map(); // label -> {n, accepted}
const failures = [];
let total = 0;
function outcome(f) { try { return f(); } catch (e) { return `throws (${e.message})`; } }
// expect: true/false, or undefined when only agreement is required.
// oracle: OpenSSL's own verification, when the digest has a known preimage.
function check(label, key, digest, sig, expect, oracle) {
  const got = outcome(() => verifyEcdsaPrehashed(key, digest, sig));
  const ref = outcome(() => referenceVerify(key, digest, sig));
  const ora = oracle ? outcome(oracle) : undefined;
  total++;
  const c = counts.get(label) ?? { n: 0, accepted: 0 };
  c.n++; if (got === true) c.accepted++;
  counts.set(label, c);
  const bad = got !== ref || (expect !== undefined && got !== expect) || (oracle && ora !== got);
  if (bad) failures.push({ label, curve: key.asymmetricKeyDetails?.namedCurve, digest: digest.toString('hex'), sig: sig.toString('hex'), got, ref, expect, oracle: ora });
}

// The cases made from one valid signature (r, s) of `key` over `digest`.
// `preimage`: {hash, data} when digest = hash(data), for crypto.verify.
// `zeroE`: e ≡ 0 mod n, where (r, s) is also valid for -Q (u1 = 0, so
// X = u2*Q and u2*(-Q) = -X has the same x).
function family(tag, key, other, digest, r, s, { preimage, zeroE = false } = {}) {
  const { n } = CURVES[key.crv];
  const dlen = digest.length; const flen = LEN[key.crv];
  const ov = (pub, sig, data = preimage?.data) => (preimage ? () => crypto.verify(preimage.hash, data, pub, sig) : undefined);
  const t = (m) => `${tag}: ${m}`;
  const sig = derSig(r, s);
  check(t('valid'), key.publicKey, digest, sig, true, ov(key.publicKey, sig));
  const hs = derSig(r, n - s);
  check(t('high-s (r, n-s), valid'), key.publicKey, digest, hs, true, ov(key.publicKey, hs));
  // a wrong digest: one bit flipped inside the bits that are used
  const wrong = Buffer.from(digest); wrong[crypto.randomInt(Math.min(dlen, flen))] ^= 1 << crypto.randomInt(8);
  check(t('wrong digest'), key.publicKey, wrong, sig, false);
  if (preimage) {
    const data2 = Buffer.concat([preimage.data, Buffer.from('!')]);
    check(t('digest of other data'), key.publicKey, crypto.createHash(preimage.hash).update(data2).digest(), sig, false, ov(key.publicKey, sig, data2));
  }
  if (dlen > flen) { // bits beyond the curve's length are ignored
    const tail = Buffer.from(digest); tail[flen + crypto.randomInt(dlen - flen)] ^= 1 << crypto.randomInt(8);
    check(t('digest changed after the truncation point, valid'), key.publicKey, tail, sig, true);
  }
  const mut = [
    ['r+1', r + 1n, s], ['s+1', r, s + 1n], ['r-1', r - 1n, s], ['r=0', 0n, s], ['s=0', r, 0n], ['r=n', n, s], ['s=n', r, n],
    ['r+n', r + n, s], ['s+n', r, s + n], ['r=-r', -r, s], ['s=-s', r, -s], ['r=n-r', n - r, s],
  ];
  for (const [m, rr, ss] of mut) { const sg = derSig(rr, ss); check(t(m), key.publicKey, digest, sg, false, ov(key.publicKey, sg)); }
  const sw = derSig(s, r);
  check(t('r and s swapped'), key.publicKey, digest, sw, r === s ? true : false, ov(key.publicKey, sw));
  check(t('another key'), other.publicKey, digest, sig, false, ov(other.publicKey, sig));
  check(t(`the key -Q = (x, p-y)${zeroE ? ', valid as e ≡ 0' : ''}`), key.neg, digest, sig, zeroE, ov(key.neg, sig));
  check(t(`-Q with high-s${zeroE ? ', valid as e ≡ 0' : ''}`), key.neg, digest, hs, zeroE, ov(key.neg, hs));
}

const t0 = Date.now();
const pools = {};
for (const crv of ['P-256', 'P-384']) pools[crv] = Array.from({ length: 12 }, () => makeKey(crv));
const pick = (crv) => pools[crv][crypto.randomInt(pools[crv].length)];
const pickOther = (key) => { for (;;) { const o = pick(key.crv); if (o !== key) return o; } };

// [curve, digest length]: equal to, longer than (truncated) and shorter than the curve
const CONFIGS = [['P-256', 32], ['P-256', 48], ['P-256', 64], ['P-384', 48], ['P-384', 64], ['P-384', 32]];
for (const [crv, dlen] of CONFIGS) {
  const { n } = CURVES[crv]; const flen = LEN[crv];
  const cfg = `${crv}/${dlen * 8}-bit digest`;
  const tail = () => crypto.randomBytes(Math.max(0, dlen - flen));
  for (let i = 0; i < PER_CONFIG; i++) {
    const key = pick(crv); const other = pickOther(key);
    if (i % 2) { // OpenSSL signs a message: the digest has a preimage
      const data = crypto.randomBytes(1 + crypto.randomInt(64));
      const sig = crypto.sign(HASH[dlen], data, key.privateKey);
      const [r, s] = sigInts(sig);
      family(`${cfg} openssl-signed`, key, other, crypto.createHash(HASH[dlen]).update(data).digest(), r, s, { preimage: { hash: HASH[dlen], data } });
    } else { // random digest, signed here
      const digest = crypto.randomBytes(dlen);
      const [r, s] = signDigest(key, digest);
      family(`${cfg} random digest`, key, other, digest, r, s);
    }
  }
  // constructed corner cases, a few of each
  const few = Math.max(2, PER_CONFIG >> 5);
  for (let i = 0; i < few; i++) {
    const key = pick(crv); const other = pickOther(key);
    const d = key.d;
    // e ≡ 0 mod n: digest = n itself (u1 = 0, u1*G is infinity), and e = 0
    if (dlen >= flen) {
      const dg = Buffer.concat([toBuf(n, flen), tail()]);
      family(`${cfg} e = n`, key, other, dg, ...signDigest(key, dg), { zeroE: true });
    }
    const z = Buffer.alloc(dlen);
    family(`${cfg} e = 0`, key, other, z, ...signDigest(key, z), { zeroE: true });
    if (dlen < flen) continue; // the rest needs e to take any value below n
    // (e/r)*G = Q, i.e. e = r*d: the point additions meet a doubling
    {
      const k = randScalar(n, flen); const r = pointMul(crv, k)[0] % n;
      const dg = Buffer.concat([toBuf((r * d) % n, flen), tail()]);
      family(`${cfg} (e/r)G = Q`, key, other, dg, ...signDigest(key, dg, k));
    }
    // (e/r)*G = -Q, i.e. e = -r*d: u1*G + u2*Q is infinity for every s
    {
      const r = randScalar(n, flen);
      const dg = Buffer.concat([toBuf(mod(-r * d, n), flen), tail()]);
      for (const s of [randScalar(n, flen), 1n, n - 1n, r]) check(`${cfg} (e/r)G = -Q: infinity, any s`, key.publicKey, dg, derSig(r, s), false);
    }
    // u2 = 1 (s = r) and u2 = n-1 (s = n-r)
    for (const [m, sgn] of [['u2 = 1 (s = r)', 1n], ['u2 = n-1 (s = n-r)', -1n]]) {
      const k = randScalar(n, flen); const r = pointMul(crv, k)[0] % n;
      const e = mod(sgn * r * k - r * d, n); // s = (e + r*d)/k = ±r
      const dg = Buffer.concat([toBuf(e, flen), tail()]);
      const [rr, ss] = signDigest(key, dg, k);
      if (rr !== r || ss !== mod(sgn * r, n)) throw new Error(`construction of ${m} failed`);
      family(`${cfg} ${m}`, key, other, dg, rr, ss);
    }
  }
}
// malformed signatures: both must throw
{
  const key = pick('P-256'); const dg = crypto.randomBytes(32); const [r, s] = signDigest(key, dg); const good = derSig(r, s);
  const bads = [Buffer.alloc(0), Buffer.concat([good, Buffer.from([0])]), seq(int(r), int(s), int(1n)), seq(int(r)), Buffer.from([0x31, ...good.subarray(1)]), good.subarray(0, good.length - 1)];
  for (const b of bads) {
    const got = outcome(() => verifyEcdsaPrehashed(key.publicKey, dg, b)); const ref = outcome(() => referenceVerify(key.publicKey, dg, b));
    total++;
    const c = counts.get('malformed DER signature: throws') ?? { n: 0, accepted: 0 }; c.n++; counts.set('malformed DER signature: throws', c);
    if (typeof got !== 'string' || typeof ref !== 'string') failures.push({ label: 'malformed', sig: b.toString('hex'), got, ref });
  }
}

// summary: counts per kind of case over all configurations
const byKind = new Map();
for (const [label, c] of counts) {
  const kind = label.replace(/^P-\d+\/\d+-bit digest /, '');
  const k = byKind.get(kind) ?? { n: 0, accepted: 0 }; k.n += c.n; k.accepted += c.accepted; byKind.set(kind, k);
}
for (const [kind, c] of [...byKind].sort()) console.log(`${String(c.n).padStart(6)} cases, ${String(c.accepted).padStart(6)} accepted  ${kind}`);
console.log(`# ${total} cases in ${CONFIGS.length} configurations (${CONFIGS.map(([c, l]) => `${c}/${l * 8}`).join(', ')}), ${((Date.now() - t0) / 1000).toFixed(1)} s`);

if (BENCH) {
  const time = (f, cases) => { const t = process.hrtime.bigint(); for (const c of cases) if (f(c.pub, c.dg, c.sig) !== true) throw new Error('bench: not valid'); return Number(process.hrtime.bigint() - t) / cases.length / 1000; };
  for (const crv of ['P-256', 'P-384']) {
    const dlen = LEN[crv];
    const mk = (key) => { const data = crypto.randomBytes(16); return { pub: key.publicKey, dg: crypto.createHash(HASH[dlen]).update(data).digest(), sig: crypto.sign(HASH[dlen], data, key.privateKey) }; };
    const fresh = Array.from({ length: 300 }, () => mk(makeKey(crv))); // a new key each time: old code's Shamir path
    const one = makeKey(crv); const same = Array.from({ length: 300 }, () => mk(one)); // one key: old code's comb path
    time(verifyEcdsaPrehashed, same.slice(0, 50)); time(referenceVerify, same.slice(0, 50)); // warm up (builds the old combs)
    const fresh2 = Array.from({ length: 300 }, () => mk(makeKey(crv)));
    console.log(`bench ${crv}: old ${time(referenceVerify, fresh).toFixed(0)} µs/verification (new key each time), ${time(referenceVerify, same).toFixed(0)} µs (same key, combs); new ${time(verifyEcdsaPrehashed, fresh2).toFixed(0)} µs (new key each time), ${time(verifyEcdsaPrehashed, same).toFixed(0)} µs (same key)`);
  }
}

if (failures.length) {
  for (const f of failures.slice(0, 20)) console.log('MISMATCH', JSON.stringify(f, (k, v) => (typeof v === 'bigint' ? v.toString() : v)));
  console.log(`FAIL: ${failures.length} of ${total} cases disagree`);
  process.exit(1);
}
console.log(`ok: new = old = expected${' '}(and = crypto.verify where the digest has a preimage) on all ${total} cases`);
