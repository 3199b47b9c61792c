// X.509 certificate construction for the Fulcio and TSA stand-ins.
import crypto from 'node:crypto';
import * as d from './der.mjs';

export const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  ecdsaSha512: '1.2.840.10045.4.3.4',
  rsaEncryption: '1.2.840.113549.1.1.1',
  sha256WithRSA: '1.2.840.113549.1.1.11',
  sha384WithRSA: '1.2.840.113549.1.1.12',
  sha512WithRSA: '1.2.840.113549.1.1.13',
  rsaPss: '1.2.840.113549.1.1.10',
  ed25519: '1.3.101.112',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  sha1: '1.3.14.3.2.26',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  subjectAltName: '2.5.29.17',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  sctList: '1.3.6.1.4.1.11129.2.4.2',
  ctPoison: '1.3.6.1.4.1.11129.2.4.3',
  fulcio: (n) => `1.3.6.1.4.1.57264.1.${n}`,
};

export const HASH_OF_SIGALG = {
  [OID.ecdsaSha256]: 'sha256', [OID.ecdsaSha384]: 'sha384', [OID.ecdsaSha512]: 'sha512',
  [OID.sha256WithRSA]: 'sha256', [OID.sha384WithRSA]: 'sha384', [OID.sha512WithRSA]: 'sha512',
  [OID.ed25519]: null,
};

export const genEc = (curve) => crypto.generateKeyPairSync('ec', { namedCurve: curve });
export const spkiDer = (publicKey) => publicKey.export({ type: 'spki', format: 'der' });

// Name with O and CN, PrintableString as Go's crypto/x509 writes them.
export function name({ organization, commonName } = {}) {
  const rdns = [];
  if (organization) rdns.push(d.setOf(d.seq(d.oid(OID.organization), d.printable(organization))));
  if (commonName) rdns.push(d.setOf(d.seq(d.oid(OID.commonName), d.printable(commonName))));
  return d.seq(...rdns);
}

export function ext(oidStr, value, critical = false) {
  return d.seq(d.oid(oidStr), critical ? d.bool(true) : null, d.octet(value));
}

// subjectPublicKey BIT STRING contents of an SPKI
export function spkiKeyBits(spki) {
  const [, bits] = d.children(d.parseAll(spki));
  return bits.content.subarray(1);
}
export const keyId = (spki) => crypto.createHash('sha1').update(spkiKeyBits(spki)).digest();

export function randomSerial() {
  // 20 random bytes, positive, non-zero leading byte so it is always 20 bytes
  const b = crypto.randomBytes(20);
  b[0] = (b[0] & 0x7f) | 0x01;
  return b;
}

function sigAlgFor(key) {
  const t = key.asymmetricKeyType;
  if (t === 'ec') {
    const crv = key.asymmetricKeyDetails.namedCurve;
    if (crv === 'secp384r1') return { oid: OID.ecdsaSha384, hash: 'sha384' };
    if (crv === 'secp521r1') return { oid: OID.ecdsaSha512, hash: 'sha512' };
    return { oid: OID.ecdsaSha256, hash: 'sha256' };
  }
  throw new Error('CA keys must be ECDSA');
}

export function buildTbs({ serial, sigOid, issuer, notBefore, notAfter, subject, spki, extensions }) {
  return d.seq(
    d.explicit(0, d.int(2)),
    d.int(serial),
    d.seq(d.oid(sigOid)),
    issuer,
    d.seq(d.x509Time(notBefore), d.x509Time(notAfter)),
    subject,
    spki,
    extensions && extensions.length ? d.explicit(3, d.seq(...extensions)) : null,
  );
}

export function signTbs(tbs, caKey) {
  const alg = sigAlgFor(caKey);
  const sig = crypto.sign(alg.hash, tbs, caKey);
  return d.seq(tbs, d.seq(d.oid(alg.oid)), d.bitString(sig));
}

export const sigOidFor = (caKey) => sigAlgFor(caKey).oid;

const KU_DIGITAL_SIGNATURE = d.bitString(Buffer.from([0x80]), 7);
const KU_CERT_CRL_SIGN = d.bitString(Buffer.from([0x06]), 1);
export const keyUsageDigitalSignature = () => ext(OID.keyUsage, KU_DIGITAL_SIGNATURE, true);
export const eku = (...oids) => d.seq(...oids.map((o) => d.oid(o)));
export const akiValue = (caSpki) => d.seq(d.implicit(0, keyId(caSpki), false));

// A CA: {key, spki, subject (DER Name), cert (DER), pem}
export function makeRootCa({ subject, notBefore, notAfter, curve = 'P-384', pathLen }) {
  const { privateKey, publicKey } = genEc(curve);
  const spki = spkiDer(publicKey);
  const subj = name(subject);
  const tbs = buildTbs({
    serial: randomSerial(), sigOid: sigOidFor(privateKey), issuer: subj, notBefore, notAfter, subject: subj, spki,
    extensions: [
      ext(OID.keyUsage, KU_CERT_CRL_SIGN, true),
      ext(OID.basicConstraints, d.seq(d.bool(true), pathLen === undefined ? null : d.int(pathLen)), true),
      ext(OID.subjectKeyId, d.octet(keyId(spki))),
    ],
  });
  const cert = signTbs(tbs, privateKey);
  return { key: privateKey, publicKey, spki, subject: subj, cert, pem: d.toPem(cert) };
}

export function makeIntermediateCa({ parent, subject, notBefore, notAfter, curve = 'P-384', ekuOids = [OID.codeSigning] }) {
  const { privateKey, publicKey } = genEc(curve);
  const spki = spkiDer(publicKey);
  const subj = name(subject);
  const tbs = buildTbs({
    serial: randomSerial(), sigOid: sigOidFor(parent.key), issuer: parent.subject, notBefore, notAfter, subject: subj, spki,
    extensions: [
      ext(OID.keyUsage, KU_CERT_CRL_SIGN, true),
      ekuOids.length ? ext(OID.extKeyUsage, eku(...ekuOids)) : null,
      ext(OID.basicConstraints, d.seq(d.bool(true), d.int(0)), true),
      ext(OID.subjectKeyId, d.octet(keyId(spki))),
      ext(OID.authorityKeyId, akiValue(parent.spki)),
    ].filter(Boolean),
  });
  const cert = signTbs(tbs, parent.key);
  return { key: privateKey, publicKey, spki, subject: subj, cert, pem: d.toPem(cert) };
}

// TSA leaf as sigstore's: KU digitalSignature (critical), SKI, AKI, EKU timeStamping (critical)
export function makeTsaLeaf({ parent, subject, notBefore, notAfter, curve = 'P-384' }) {
  const { privateKey, publicKey } = genEc(curve);
  const spki = spkiDer(publicKey);
  const subj = name(subject);
  const serial = randomSerial();
  const tbs = buildTbs({
    serial, sigOid: sigOidFor(parent.key), issuer: parent.subject, notBefore, notAfter, subject: subj, spki,
    extensions: [
      keyUsageDigitalSignature(),
      ext(OID.subjectKeyId, d.octet(keyId(spki))),
      ext(OID.authorityKeyId, akiValue(parent.spki)),
      ext(OID.extKeyUsage, eku(OID.timeStamping), true),
    ],
  });
  const cert = signTbs(tbs, parent.key);
  return { key: privateKey, publicKey, spki, subject: subj, serial, cert, pem: d.toPem(cert), issuer: parent.subject };
}

// ---- reading ----

// Parse a certificate just enough: tbs, serial, issuer, subject, spki, extensions list
export function parseCert(der) {
  const top = d.parseAll(der);
  const [tbs, sigAlg, sig] = d.children(top);
  const f = d.children(tbs);
  let i = 0;
  if (f[0].tag === 0xa0) i++;
  const serial = f[i++];
  i++; // sig alg
  const issuer = f[i++];
  const validity = f[i++];
  const subject = f[i++];
  const spki = f[i++];
  const exts = [];
  for (; i < f.length; i++) {
    if (f[i].tag === 0xa3) {
      for (const e of d.children(d.children(f[i])[0])) {
        const parts = d.children(e);
        const critical = parts.length === 3 && parts[1].content[0] !== 0;
        exts.push({ oid: d.decodeOid(parts[0]), critical, value: parts[parts.length - 1].content, raw: e.raw });
      }
    }
  }
  return { tbs: tbs.raw, serial: serial.content, issuer: issuer.raw, subject: subject.raw, spki: spki.raw, validity, exts, sigAlg: d.decodeOid(d.children(sigAlg)[0]), sig: sig.content.subarray(1) };
}

// PKCS#10 CSR: returns {spki, publicKey} after checking its self-signature.
export function parseAndVerifyCsr(der) {
  const top = d.parseAll(der);
  const [info, algSeq, sig] = d.children(top);
  const infoParts = d.children(info);
  const spki = infoParts[2].raw;
  const publicKey = crypto.createPublicKey({ key: spki, format: 'der', type: 'spki' });
  const algOid = d.decodeOid(d.children(algSeq)[0]);
  if (!(algOid in HASH_OF_SIGALG)) throw new Error(`unsupported CSR signature algorithm ${algOid}`);
  const hash = HASH_OF_SIGALG[algOid];
  const ok = crypto.verify(hash, info.raw, publicKey, sig.content.subarray(1));
  if (!ok) throw new Error('CSR signature invalid');
  return { spki: Buffer.from(spki), publicKey };
}
