// RFC 3161 timestamp authority stand-in (sigstore timestamp-authority API).
import crypto from 'node:crypto';
import * as d from './der.mjs';
import { OID } from './x509.mjs';
import { HttpError, readBody, parseJson, send, sleep } from './util.mjs';

const ID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const ID_CT_TSTINFO = '1.2.840.113549.1.9.16.1.4';
const ATTR_CONTENT_TYPE = '1.2.840.113549.1.9.3';
const ATTR_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const ATTR_SIGNING_TIME = '1.2.840.113549.1.9.5';
const ATTR_SIGNING_CERT_V2 = '1.2.840.113549.1.9.16.2.47';
const TSA_POLICY = '1.3.6.1.4.1.57264.2';
const HASH_OIDS = { [OID.sha256]: 'sha256', [OID.sha384]: 'sha384', [OID.sha512]: 'sha512' };
const HASH_BY_NAME = { sha256: OID.sha256, sha384: OID.sha384, sha512: OID.sha512 };

const err = (status, message) => new HttpError(status, { code: status, message });

// TimeStampReq -> {hashOid, hashedMessage, nonce (Buffer|undefined), certReq, policy}
function parseTsq(der) {
  const top = d.parseAll(der);
  const f = d.children(top);
  if (d.decodeInt(f[0]) !== 1n) throw new Error('unsupported TimeStampReq version');
  const [algId, hashed] = d.children(f[1]);
  const hashOid = d.decodeOid(d.children(algId)[0]);
  const out = { hashOid, hashedMessage: Buffer.from(hashed.content), certReq: false, imprint: f[1].raw };
  for (const n of f.slice(2)) {
    if (n.tag === 0x06) out.policy = d.decodeOid(n);
    else if (n.tag === 0x02) out.nonce = Buffer.from(n.content);
    else if (n.tag === 0x01) out.certReq = n.content[0] !== 0;
  }
  return out;
}

export function makeTsa({ state }) {
  const { faults, stats } = state;
  const tsa = state.tsa; // {leaf: {key, cert, serial, issuer}, root: {...}}

  function timestamp({ hashOid, hashedMessage, nonce, certReq, imprint, genAt }) {
    if (!(hashOid in HASH_OIDS)) throw err(400, `unsupported hash algorithm ${hashOid}`);
    if (hashedMessage.length !== crypto.createHash(HASH_OIDS[hashOid]).digest().length) throw err(400, 'hashed message has the wrong length for its algorithm');
    const genTime = new Date(genAt !== undefined ? genAt * 1000 : Math.floor(Date.now() / 1000) * 1000);
    const serial = crypto.randomBytes(16); serial[0] = (serial[0] & 0x7f) | 0x01;
    const tstInfo = d.seq(
      d.int(1),
      d.oid(TSA_POLICY),
      imprint || d.seq(d.seq(d.oid(hashOid), d.nul()), d.octet(hashedMessage)),
      d.int(serial),
      d.genTime(genTime),
      nonce ? d.tlv(0x02, nonce) : null,
    );
    const certHash = crypto.createHash('sha256').update(tsa.leaf.cert).digest();
    const essCertIdV2 = d.seq(
      certHash.length ? d.octet(certHash) : null, // hashAlgorithm DEFAULT sha256 omitted
      d.seq(d.seq(d.explicit(4, tsa.leaf.issuer)), d.int(tsa.leaf.serial)),
    );
    const attrs = [
      d.seq(d.oid(ATTR_CONTENT_TYPE), d.setOf(d.oid(ID_CT_TSTINFO))),
      d.seq(d.oid(ATTR_SIGNING_TIME), d.setOf(d.utcTime(genTime))),
      d.seq(d.oid(ATTR_MESSAGE_DIGEST), d.setOf(d.octet(crypto.createHash('sha256').update(tstInfo).digest()))),
      d.seq(d.oid(ATTR_SIGNING_CERT_V2), d.setOf(d.seq(d.seq(essCertIdV2)))),
    ];
    const signedAttrsSet = d.setOf(...attrs); // DER SET OF for signing
    const sig = crypto.sign('sha256', signedAttrsSet, tsa.leaf.key);
    const signerInfo = d.seq(
      d.int(1),
      d.seq(tsa.leaf.issuer, d.int(tsa.leaf.serial)),
      d.seq(d.oid(OID.sha256), d.nul()),
      d.tlv(0xa0, signedAttrsSet.subarray(d.parse(signedAttrsSet).hlen)), // [0] IMPLICIT
      d.seq(d.oid(OID.ecdsaSha256)),
      d.octet(sig),
    );
    const signedData = d.seq(
      d.int(3),
      d.setOf(d.seq(d.oid(OID.sha256), d.nul())),
      d.seq(d.oid(ID_CT_TSTINFO), d.explicit(0, d.octet(tstInfo))),
      certReq ? d.tlv(0xa0, Buffer.concat([tsa.leaf.cert])) : null,
      d.setOf(signerInfo),
    );
    const token = d.seq(d.oid(ID_SIGNED_DATA), d.explicit(0, signedData));
    stats.tsa_timestamps += 1;
    return d.seq(d.seq(d.int(0)), token); // PKIStatusInfo granted
  }

  async function handler(req, res, url) {
    if (url.pathname === '/api/v1/timestamp' && req.method === 'POST') {
      const delay = faults.take('tsa', 'slow');
      if (delay) await sleep(Number(delay.value) || 2000);
      if (faults.take('tsa', 'http500')) throw err(500, 'error generating timestamp response (testbed fault tsa.http500)');
      const body = await readBody(req, 64 * 1024);
      const ctype = (req.headers['content-type'] || '').split(';')[0].trim();
      let q;
      if (ctype === 'application/json') {
        const j = parseJson(body);
        const alg = HASH_BY_NAME[(j.hashAlgorithm || 'sha256').toLowerCase()];
        if (!alg) throw err(400, 'unsupported hashAlgorithm');
        let nonce;
        if (j.nonce !== undefined && j.nonce !== null) nonce = d.parse(d.int(BigInt(j.nonce))).content;
        q = { hashOid: alg, hashedMessage: Buffer.from(j.artifactHash || '', 'base64'), nonce, certReq: !!j.certificates };
      } else {
        try { q = parseTsq(body); } catch (e) { throw err(400, `error parsing timestamp request: ${e.message}`); }
      }
      // gen-time fault: the token says it was made at `value` (Unix seconds).
      const at = faults.take('tsa', 'gen-time');
      if (at && !Number.isSafeInteger(Number(at.value))) throw err(400, 'the gen-time fault needs an integer value (Unix seconds)');
      if (at) q.genAt = Number(at.value);
      return send(res, 200, timestamp(q), { 'Content-Type': 'application/timestamp-reply' });
    }
    if (url.pathname === '/api/v1/timestamp/certchain' && req.method === 'GET') {
      return send(res, 200, d.toPem(tsa.leaf.cert) + d.toPem(tsa.root.cert), { 'Content-Type': 'application/pem-certificate-chain' });
    }
    throw err(404, 'Not Found');
  }
  return { handler };
}
