// Verification of signatures over a precomputed digest (what Rekor's
// hashedrekord does). Node's crypto only verifies over messages, so ECDSA is
// done here with BigInt arithmetic (P-256, P-384), RSA PKCS#1 v1.5 through
// publicDecrypt. Speed is irrelevant at testbed scale (a few ms each).
import crypto from 'node:crypto';
import { parse, children, decodeInt, decodeOid } from './der.mjs';

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

export function verifyEcdsaPrehashed(publicKey, digest, sig) {
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

const DIGEST_INFO_PREFIX = {
  32: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  48: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  64: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

export function verifyPrehashed(publicKey, digest, sig) {
  const type = publicKey.asymmetricKeyType;
  if (type === 'ec') return verifyEcdsaPrehashed(publicKey, digest, sig);
  if (type === 'rsa') {
    let out;
    try {
      out = crypto.publicDecrypt({ key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, sig);
    } catch { return false; }
    const want = Buffer.concat([DIGEST_INFO_PREFIX[digest.length] || Buffer.alloc(0), digest]);
    return out.equals(want);
  }
  throw new Error(`unsupported key type ${type} for a signature over a digest`);
}

export { decodeOid };
