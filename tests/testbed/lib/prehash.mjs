// Verification of signatures over a precomputed digest (what Rekor's
// hashedrekord does). Node's crypto only verifies over messages, so ECDSA
// (P-256, P-384) is put together here from OpenSSL's scalar multiplications
// (through crypto.createECDH) and a little exact BigInt arithmetic; RSA PKCS#1
// v1.5 goes through publicDecrypt. tests/testbed/prehash-check.mjs compares it
// with a textbook BigInt implementation. Cost per ECDSA verification: P-256
// ~0.15 ms; P-384 ~2.5 ms (OpenSSL 3.0 has no fast P-384 code for these
// calls, so this is slower than the former BigInt combs, ~1.6 ms; gitsign and
// sigstore clients sign hashedrekord entries with P-256).
import crypto from 'node:crypto';
import { parse, children, decodeInt, decodeOid } from './der.mjs';

// a = -3 for both.
const CURVES = {
  'P-256': {
    openssl: 'prime256v1',
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
    bits: 256,
    len: 32,
  },
  'P-384': {
    openssl: 'secp384r1',
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    bits: 384,
    len: 48,
  },
};

const mod = (a, m) => { const r = a % m; return r >= 0n ? r : r + m; };
// a^-1 mod m for m prime and a not divisible by m (extended Euclid; several
// times faster than Fermat with BigInt).
function inv(a, m) {
  let r0 = m; let r1 = mod(a, m); let t0 = 0n; let t1 = 1n;
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  if (r0 !== 1n) throw new Error('not invertible');
  return mod(t0, m);
}
const toInt = (buf) => (buf.length ? BigInt('0x' + buf.toString('hex')) : 0n);
const toBuf = (v, len) => Buffer.from(v.toString(16).padStart(len * 2, '0'), 'hex');
const b64uInt = (s) => toInt(Buffer.from(s, 'base64url'));

// One ECDH object per curve, used only synchronously: setPrivateKey(k) then
// getPublicKey() is k*G, computeSecret(P) is the x coordinate of k*P. Node
// refuses private keys outside [1, n-1].
const ecdhs = new Map();
function ecdhFor(c) {
  let e = ecdhs.get(c.openssl);
  if (!e) { e = crypto.createECDH(c.openssl); ecdhs.set(c.openssl, e); }
  return e;
}

// Parse a DER ECDSA-Sig-Value strictly.
function parseEcdsaSig(sig) {
  const top = parse(sig, 0);
  if (top.tag !== 0x30 || top.end !== sig.length) throw new Error('signature is not a DER ECDSA-Sig-Value');
  const [r, s, ...rest] = children(top);
  if (!r || !s || rest.length) throw new Error('signature is not a DER ECDSA-Sig-Value');
  return [decodeInt(r), decodeInt(s)];
}

// Textbook ECDSA verification (SEC 1 4.1.4): r, s in [1, n-1], e = the
// digest's leftmost `bits` bits, u1 = e/s, u2 = r/s (mod n), X = u1*G + u2*Q;
// valid iff X is not the point at infinity and x(X) mod n == r.
//
// Computed as X = u2*T with T = k*G + Q, k = u1/u2 = e/r (mod n): u2 is in
// [1, n-1] because r and s are, and the group has prime order n, so
// multiplication by u2 is a bijection that fixes only infinity: X is infinity
// iff T is, and otherwise x(X) is exactly what OpenSSL's ECDH gives for the
// private key u2 and the point T. The cases of T = k*G + Q:
// - k == 0 (e ≡ 0 mod n): T = Q.
// - k*G == -Q (same x, other y): T = infinity, so X is: reject.
// - k*G == Q (same x, same y): T = 2Q, by the tangent (y(Q) != 0: with prime
//   order there is no point of order 2).
// - otherwise x(k*G) != x(Q): T by the chord, never infinity.
// k*G != infinity for k in [1, n-1]. Q is on the curve (checked) and not
// infinity (it has coordinates).
export function verifyEcdsaPrehashed(publicKey, digest, sig) {
  const jwk = publicKey.export({ format: 'jwk' });
  const c = CURVES[jwk.crv];
  if (!c) throw new Error(`unsupported curve ${jwk.crv}`);
  const { p, n } = c;
  const [r, s] = parseEcdsaSig(sig);
  if (r <= 0n || r >= n || s <= 0n || s >= n) return false;
  let e = toInt(Buffer.from(digest));
  const dbits = digest.length * 8;
  if (dbits > c.bits) e >>= BigInt(dbits - c.bits);
  const qx = b64uInt(jwk.x); const qy = b64uInt(jwk.y);
  if (qx >= p || qy >= p || mod(qy * qy - (qx * qx * qx - 3n * qx + c.b), p) !== 0n) return false;
  // one inversion for both: 1/r = s/(rs), 1/s = r/(rs)
  const rsInv = inv(r * s, n);
  const u2 = (((r * r) % n) * rsInv) % n;
  const k = (((e % n) * s) % n * rsInv) % n;
  const ecdh = ecdhFor(c);
  let tx; let ty;
  if (k === 0n) {
    tx = qx; ty = qy;
  } else {
    ecdh.setPrivateKey(toBuf(k, c.len));
    const K = ecdh.getPublicKey(); // 04 || x || y
    const kx = toInt(K.subarray(1, 1 + c.len)); const ky = toInt(K.subarray(1 + c.len));
    let l;
    if (kx === qx) {
      if (ky !== qy) return false; // k*G = -Q
      l = (mod(3n * qx * qx - 3n, p) * inv(2n * qy, p)) % p; // tangent slope, a = -3
    } else {
      l = (mod(qy - ky, p) * inv(qx - kx, p)) % p;
    }
    tx = mod(l * l - kx - qx, p);
    ty = mod(l * (qx - tx) - qy, p);
  }
  ecdh.setPrivateKey(toBuf(u2, c.len));
  const x = toInt(ecdh.computeSecret(Buffer.concat([Buffer.from([4]), toBuf(tx, c.len), toBuf(ty, c.len)])));
  return x % n === r;
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
