// Rekor v1 stand-in: hashedrekord 0.0.1 and dsse 0.0.1 entries in a real RFC 6962 tree.
import crypto from 'node:crypto';
import * as d from './der.mjs';
import { MerkleTree } from './merkle.mjs';
import { verifyPrehashed } from './prehash.mjs';
import { HttpError, readBody, parseJson, send, sleep, canonicalJson, nowSec } from './util.mjs';

const err = (status, message, headers) => new HttpError(status, { code: status, message }, headers);
const validation = (m) => err(400, `error processing entry: ${m}`);
const HASH_LEN = { sha256: 64, sha384: 96, sha512: 128 };

function parseSubjectEmails(certDer) {
  // emails and URIs from the SAN extension, for the search index
  const out = [];
  try {
    const top = d.parseAll(certDer);
    const tbs = d.children(top)[0];
    for (const f of d.children(tbs)) {
      if (f.tag !== 0xa3) continue;
      for (const e of d.children(d.children(f)[0])) {
        const parts = d.children(e);
        if (d.decodeOid(parts[0]) !== '2.5.29.17') continue;
        const san = d.parseAll(parts[parts.length - 1].content);
        for (const g of d.children(san)) {
          if (g.tag === 0x81 || g.tag === 0x86) out.push(g.content.toString('latin1'));
        }
      }
    }
  } catch { /* not indexable */ }
  return out;
}

// hashedrekord's spec.signature.publicKey (the PEM text) -> {publicKey,
// canonicalKey, subjects}, or a 400. A signer with cached credentials sends the
// same certificate for every entry, so successful parses are kept in a small
// LRU keyed by the exact PEM text (the result depends on nothing else;
// failures are not kept).
function parseHashedrekordKey(pemText) {
  const blocks = d.fromPem(pemText);
  if (!blocks.length) throw validation('invalid public key: failure decoding PEM');
  try {
    if (blocks[0].label === 'CERTIFICATE') {
      const certs = blocks.filter((b) => b.label === 'CERTIFICATE');
      return {
        publicKey: new crypto.X509Certificate(certs[0].der).publicKey,
        canonicalKey: certs.map((c) => d.toPem(c.der)).join(''),
        subjects: parseSubjectEmails(certs[0].der),
      };
    }
    if (blocks[0].label === 'PUBLIC KEY') {
      const publicKey = crypto.createPublicKey({ key: blocks[0].der, format: 'der', type: 'spki' });
      return { publicKey, canonicalKey: d.toPem(publicKey.export({ type: 'spki', format: 'der' }), 'PUBLIC KEY'), subjects: [] };
    }
    throw new Error(`unsupported PEM type ${blocks[0].label}`);
  } catch (e) { throw validation(`invalid public key: ${e.message}`); }
}
const KEY_CACHE_SIZE = 64;
const keyCache = new Map(); // PEM text -> frozen parse result, least recently used first
function hashedrekordKey(pemText) {
  let k = keyCache.get(pemText);
  if (k) {
    keyCache.delete(pemText);
  } else {
    const parsed = parseHashedrekordKey(pemText); // throws: nothing cached
    k = Object.freeze({ ...parsed, subjects: Object.freeze(parsed.subjects) });
    if (keyCache.size >= KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value);
  }
  keyCache.set(pemText, k);
  return k;
}

// ---- dsse 0.0.1 (sigstore/rekor pkg/types/dsse/v0.0.1/entry.go) ----------
// The proposed entry is spec.proposedContent {envelope: the DSSE envelope as a
// JSON string, verifiers: [base64 of a PEM public key or certificate (chain)]}.
// Rekor decodes the envelope with Go's encoding/json, verifies every signature
// over PAE(payloadType, payload) (go-securesystemslib dsse, one verifier per
// key, keyids ignored because Rekor's adapter has no public key to derive one
// from), and stores only {envelopeHash: sha256 of the envelope string as sent,
// payloadHash: sha256 of the decoded payload, signatures: [{signature: the
// envelope's sig string verbatim, verifier: base64 of the canonical PEM}]
// sorted by signature}.

const B64_STD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const B64_URL = /^(?:[A-Za-z0-9\-_]{4})*(?:[A-Za-z0-9\-_]{2}==|[A-Za-z0-9\-_]{3}=)?$/;
// Go's base64.StdEncoding / URLEncoding DecodeString (padding required, CR/LF ignored); null if invalid.
function goB64(s, url = false) {
  if (typeof s !== 'string') return null;
  const t = s.replace(/[\r\n]/g, '');
  if (!(url ? B64_URL : B64_STD).test(t)) return null;
  return Buffer.from(t, url ? 'base64url' : 'base64');
}
// go-securesystemslib's b64Decode: standard, then URL-safe alphabet.
const dsseB64 = (s) => goB64(s) ?? goB64(s, true);

const jsonType = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
// Go's encoding/json into a struct: keys match fields case-insensitively (the
// last matching key wins), unknown keys are ignored, null leaves the zero
// value, any other type mismatch is an error.
function goStruct(v, fields, type) {
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`json: cannot unmarshal ${jsonType(v)} into Go value of type ${type}`);
  const out = {};
  for (const k of Object.keys(v)) {
    const f = fields.find((x) => x.toLowerCase() === k.toLowerCase());
    if (f !== undefined) out[f] = v[k];
  }
  return out;
}
function goString(v, where) {
  if (v === null || v === undefined) return '';
  if (typeof v !== 'string') throw new Error(`json: cannot unmarshal ${jsonType(v)} into Go struct field ${where} of type string`);
  return v;
}
function goArray(v, where, type) {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) throw new Error(`json: cannot unmarshal ${jsonType(v)} into Go struct field ${where} of type ${type}`);
  return v;
}

// dsse.Envelope {payloadType, payload, signatures [{keyid, sig}]}
function parseEnvelope(text) {
  const raw = JSON.parse(text);
  const e = goStruct(raw, ['payloadType', 'payload', 'signatures'], 'dsse.Envelope');
  return {
    payloadType: goString(e.payloadType, 'Envelope.payloadType'),
    payload: goString(e.payload, 'Envelope.payload'),
    signatures: goArray(e.signatures, 'Envelope.signatures', '[]dsse.Signature').map((s) => {
      const f = goStruct(s, ['keyid', 'sig'], 'dsse.Signature');
      return { keyid: goString(f.keyid, 'Signature.keyid'), sig: goString(f.sig, 'Signature.sig') };
    }),
  };
}

function pae(payloadType, body) {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${body.length} `), body]);
}

// rekor pkg/pki/x509 NewPublicKey + CanonicalValue: one PEM public key, one
// certificate, or (when anything follows the first block) a chain of at most
// 10 certificates; the key of a chain is its first certificate's.
function parseVerifierPem(bytes) {
  const text = bytes.toString('latin1').trim();
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  const blocks = []; let end = 0; let m;
  while ((m = re.exec(text)) !== null) {
    blocks.push({ label: m[1], der: Buffer.from(m[2].replace(/\s+/g, ''), 'base64') });
    end = re.lastIndex;
  }
  if (!blocks.length) throw new Error('invalid public key: failure decoding PEM');
  if (blocks.length > 1 || text.slice(end).trim()) {
    if (text.slice(end).trim()) throw new Error('error during PEM decoding');
    if (blocks.length > 10) throw new Error('too many certificates specified in PEM block');
    const certs = blocks.map((b) => new crypto.X509Certificate(b.der));
    return { publicKey: certs[0].publicKey, canonical: blocks.map((b) => d.toPem(b.der)).join(''), subjects: parseSubjectEmails(blocks[0].der) };
  }
  const b = blocks[0];
  if (b.label === 'PUBLIC KEY') {
    const k = crypto.createPublicKey({ key: b.der, format: 'der', type: 'spki' });
    return { publicKey: k, canonical: d.toPem(k.export({ type: 'spki', format: 'der' }), 'PUBLIC KEY'), subjects: [] };
  }
  if (b.label === 'CERTIFICATE') {
    const c = new crypto.X509Certificate(b.der);
    return { publicKey: c.publicKey, canonical: d.toPem(b.der), subjects: parseSubjectEmails(b.der) };
  }
  throw new Error(`invalid public key: cannot handle type ${b.label}`);
}

// sigstore signature.LoadVerifier(key, crypto.SHA256): ECDSA (any curve) and
// RSA PKCS#1 v1.5 with SHA-256 over the message, Ed25519 over the message.
function loadVerifier(publicKey) {
  const t = publicKey.asymmetricKeyType;
  const attempt = (f) => (data, sig) => { try { return f(data, sig); } catch { return false; } };
  if (t === 'ec') return attempt((data, sig) => crypto.verify('sha256', data, { key: publicKey, dsaEncoding: 'der' }, sig));
  if (t === 'rsa') return attempt((data, sig) => crypto.verify('sha256', data, { key: publicKey, padding: crypto.constants.RSA_PKCS1_PADDING }, sig));
  if (t === 'ed25519') return attempt((data, sig) => crypto.verify(null, data, publicKey, sig));
  throw new Error(`could not load verifier: unsupported public key type ${t}`);
}

// go-securesystemslib EnvelopeVerifier.Verify with a single verifier
// (threshold 1): returns the envelope signatures it accepted (at most one).
function verifyWithKey(verify, env) {
  if (!env.signatures.length) throw new Error('no signature found');
  const body = dsseB64(env.payload);
  if (!body) throw new Error('unable to base64 decode payload (is payload in the right format?)');
  const msg = pae(env.payloadType, body);
  const accepted = [];
  for (const s of env.signatures) {
    const sig = dsseB64(s.sig);
    if (!sig) throw new Error('unable to base64 decode payload (is payload in the right format?)');
    if (accepted.length) continue; // the verifier is used up
    if (verify(msg, sig)) accepted.push(s);
  }
  if (!accepted.length) throw new Error('accepted signatures do not match threshold, Found: 0, Expected 1');
  return accepted;
}

const byteOrder = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

// The schema checks of models.DSSEV001Schema.Validate that matter here.
function checkDsseSchema(spec) {
  for (const h of ['envelopeHash', 'payloadHash']) {
    const v = spec[h];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'object') throw validation(`validation failure: ${h} in body must be of type object`);
    if (v.algorithm !== 'sha256') throw validation(`validation failure: ${h}.algorithm in body should be one of [sha256]`);
    if (typeof v.value !== 'string') throw validation(`validation failure: ${h}.value in body is required`);
  }
  if (spec.signatures !== undefined && spec.signatures !== null) {
    if (!Array.isArray(spec.signatures)) throw validation('validation failure: signatures in body must be of type array');
    spec.signatures.forEach((s, i) => {
      if (!s || typeof s.signature !== 'string' || !B64_STD.test(s.signature)) throw validation(`validation failure: signatures.${i}.signature in body should match base64`);
      if (goB64(s.verifier) === null) throw validation(`validation failure: signatures.${i}.verifier in body must be of type byte`);
    });
  }
  const pc = spec.proposedContent;
  if (pc !== undefined && pc !== null) {
    if (typeof pc !== 'object' || Array.isArray(pc)) throw validation('validation failure: proposedContent in body must be of type object');
    if (typeof pc.envelope !== 'string') throw validation('validation failure: proposedContent.envelope in body is required');
    if (!Array.isArray(pc.verifiers)) throw validation('validation failure: proposedContent.verifiers in body is required');
    if (pc.verifiers.length < 1) throw validation('validation failure: proposedContent.verifiers in body should have at least 1 items');
    pc.verifiers.forEach((v, i) => {
      if (v === null) throw validation('an invalid null verifier was provided in ProposedContent');
      if (goB64(v) === null) throw validation(`validation failure: proposedContent.verifiers.${i} in body must be of type byte`);
    });
  }
}

// in-toto subjects (and SLSA v0.2 materials) of a statement, as IndexKeys does;
// a statement Go cannot decode makes Rekor index nothing at all (null).
function statementDigests(payload) {
  const out = [];
  try {
    const st = goStruct(JSON.parse(payload.toString('utf8')), ['_type', 'predicateType', 'subject', 'predicate'], 'in_toto.Statement');
    goString(st._type, 'Statement._type'); goString(st.predicateType, 'Statement.predicateType');
    for (const sub of goArray(st.subject, 'Statement.subject', '[]in_toto.Subject')) {
      const f = goStruct(sub, ['name', 'digest'], 'in_toto.Subject');
      goString(f.name, 'Subject.name');
      const dg = f.digest;
      if (dg === null || dg === undefined) continue;
      if (typeof dg !== 'object' || Array.isArray(dg)) throw new Error('digest must be an object');
      for (const [alg, v] of Object.entries(dg)) out.push(`${alg}:${goString(v, 'Subject.digest')}`);
    }
  } catch { return null; }
  try {
    const st = JSON.parse(payload.toString('utf8'));
    const mats = goStruct(st.predicate, ['materials'], 'slsa02.ProvenancePredicate').materials;
    for (const mt of goArray(mats, 'ProvenancePredicate.materials', '[]common.ProvenanceMaterial')) {
      const dg = goStruct(mt, ['uri', 'digest'], 'common.ProvenanceMaterial').digest;
      if (dg && typeof dg === 'object' && !Array.isArray(dg)) for (const [alg, v] of Object.entries(dg)) if (typeof v === 'string') out.push(`${alg}:${v}`);
    }
  } catch { /* not a SLSA v0.2 predicate: no materials */ }
  return out;
}

// dsse 0.0.1 spec -> {canonical body Buffer, index keys}
function canonicalizeDsse(specIn, { search }) {
  const spec = specIn && typeof specIn === 'object' && !Array.isArray(specIn) ? specIn : {};
  checkDsseSchema(spec);
  const pc = spec.proposedContent ?? null;
  const sigsIn = Array.isArray(spec.signatures) ? spec.signatures : [];
  const mkBody = (envelopeHash, payloadHash, signatures) => Buffer.from(canonicalJson({
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: envelopeHash },
      payloadHash: { algorithm: 'sha256', value: payloadHash },
      signatures: [...signatures].sort((a, b) => byteOrder(a.signature, b.signature)),
    },
  }));
  if (pc === null) {
    if (!spec.envelopeHash || !spec.payloadHash || !sigsIn.length) throw validation('either proposedContent or envelopeHash, payloadHash, and signatures must be present');
    // Rekor's Insertable(): a canonical body can be searched for, not logged
    if (!search) throw validation('entry not insertable into log: missing proposed content');
    const sigs = sigsIn.map((s) => ({ signature: s.signature, verifier: goB64(s.verifier).toString('base64') }));
    return { body: mkBody(spec.envelopeHash.value, spec.payloadHash.value, sigs), keys: [] };
  }
  if (spec.envelopeHash || spec.payloadHash || sigsIn.length) throw validation('either proposedContent or envelopeHash, payloadHash, and signatures must be present but not both');
  let env;
  try { env = parseEnvelope(pc.envelope); } catch (e) { throw validation(e.message); }
  if (!env.signatures.length) throw validation('DSSE envelope must contain 1 or more signatures');

  // verifyEnvelope: each key in turn until every signature (by its string) is accounted for
  const pending = new Set(env.signatures.map((s) => s.sig));
  const keyBySig = new Map();
  for (const vb64 of pc.verifiers) {
    if (!pending.size) break;
    let key;
    try { key = parseVerifierPem(goB64(vb64)); } catch (e) { throw validation(`could not parse public key as x509: ${e.message}`); }
    let verify;
    try { verify = loadVerifier(key.publicKey); } catch (e) { throw validation(e.message); }
    let accepted;
    try { accepted = verifyWithKey(verify, env); } catch (e) { throw validation(`could not verify envelope: ${e.message}`); }
    for (const a of accepted) { pending.delete(a.sig); keyBySig.set(a.sig, key); }
  }
  if (pending.size) throw validation('all signatures must have a key that verifies it');

  const payload = dsseB64(env.payload);
  const payloadHash = crypto.createHash('sha256').update(payload).digest('hex');
  const envelopeHash = crypto.createHash('sha256').update(Buffer.from(pc.envelope, 'utf8')).digest('hex');
  const sigs = [...keyBySig].map(([signature, k]) => ({ signature, verifier: Buffer.from(k.canonical, 'latin1').toString('base64') }));

  // IndexKeys: key hash ("sha256:" + hex, unlike hashedrekord's bare hex) and
  // SANs per signature, payload and envelope hashes, in-toto subjects.
  const keys = [];
  for (const k of keyBySig.values()) {
    keys.push(`sha256:${crypto.createHash('sha256').update(Buffer.from(k.canonical, 'latin1')).digest('hex')}`, ...k.subjects);
  }
  keys.push(`sha256:${payloadHash}`, `sha256:${envelopeHash}`);
  let indexKeys = keys;
  if (env.payloadType === 'application/vnd.in-toto+json' && env.payload !== '') {
    const digests = statementDigests(payload);
    indexKeys = digests === null ? [] : [...keys, ...digests];
  }
  return { body: mkBody(envelopeHash, payloadHash, sigs), keys: indexKeys.map((k) => k.toLowerCase()) };
}

export function makeRekor({ state, hostname }) {
  const { faults, stats } = state;
  const tree = new MerkleTree();
  const entries = []; // by log index
  const byUuid = new Map(); // 64-hex -> entry
  const index = new Map(); // key -> [entryID80] newest first
  const rk = state.rekorKeys; // {key, publicKey, spki, logIdHex, altKey, altSpki, altLogIdHex}
  const treeId = state.rekorTreeId; // BigInt
  const treeIdHex = treeId.toString(16).padStart(16, '0');
  const origin = `${hostname} - ${treeId}`;
  const checkpointCache = new Map();

  const keyhint = (spki) => crypto.createHash('sha256').update(spki).digest().subarray(0, 4);
  function signCheckpoint(size, { key = rk.key, spki = rk.spki, corrupt = false, noteOrigin = origin, name = hostname, claimedSize = size } = {}) {
    const root = tree.root(size);
    const note = `${noteOrigin}\n${claimedSize}\n${root.toString('base64')}\n`;
    const sig = crypto.sign('sha256', Buffer.from(note), key);
    if (corrupt) sig[sig.length - 3] ^= 0x01;
    return `${note}\n\u2014 ${name} ${Buffer.concat([keyhint(spki), sig]).toString('base64')}\n`;
  }
  function checkpoint(size, opts = {}) {
    const custom = Object.keys(opts).length > 0;
    if (custom) return signCheckpoint(size, opts);
    if (!checkpointCache.has(size)) checkpointCache.set(size, signCheckpoint(size));
    return checkpointCache.get(size);
  }

  function setFor(e, key, logIdHex) {
    const payload = canonicalJson({ body: e.bodyB64, integratedTime: e.integratedTime, logID: logIdHex, logIndex: e.logIndex });
    return crypto.sign('sha256', Buffer.from(payload), key).toString('base64');
  }

  const entryId = (e) => `${treeIdHex}${e.uuid}`;

  // LogEntry JSON for entry e with an inclusion proof at the current tree size (or atSize)
  function logEntry(e, atSize = tree.size) {
    const wrong = faults.take('rekor', 'wrong-log-key');
    const badSet = faults.take('rekor', 'bad-set');
    const badProof = faults.take('rekor', 'bad-proof');
    const badCp = faults.take('rekor', 'bad-checkpoint');
    // Entries nobody signed, or signed for something else (the forgeries a
    // verifier must refuse): no SET, no checkpoint, a one-leaf proof rooted
    // in the entry itself, checkpoints of another origin, key name or size.
    const noSet = faults.take('rekor', 'no-set');
    const noCp = faults.take('rekor', 'no-checkpoint');
    const selfRooted = faults.take('rekor', 'self-rooted');
    const cpOrigin = faults.take('rekor', 'checkpoint-origin');
    const cpName = faults.take('rekor', 'checkpoint-name');
    const cpSize = faults.take('rekor', 'checkpoint-size');
    const logIdHex = wrong ? rk.altLogIdHex : rk.logIdHex;
    let hashes = tree.inclusionProof(e.logIndex, atSize).map((h) => Buffer.from(h));
    let rootHash = tree.root(atSize);
    if (badProof) {
      if (hashes.length) hashes[0][0] ^= 0x01;
      else rootHash = Buffer.from(rootHash.map((b, i) => (i === 0 ? b ^ 1 : b)));
    }
    let set = e.set;
    if (wrong) set = setFor(e, rk.altKey, logIdHex);
    else if (badSet) set = setFor(e, rk.altKey, rk.logIdHex);
    let cp = wrong ? checkpoint(atSize, { key: rk.altKey, spki: rk.altSpki })
      : badCp ? checkpoint(atSize, { corrupt: true })
        : cpOrigin ? checkpoint(atSize, { noteOrigin: String(cpOrigin.value || 'rekor.example.org - 1') })
          : cpName ? checkpoint(atSize, { name: String(cpName.value || 'rekor.example.org') })
            : cpSize ? checkpoint(atSize, { claimedSize: atSize + 1 })
              : checkpoint(atSize);
    let proofIndex = e.logIndex;
    let size = atSize;
    if (selfRooted) {
      // A "tree" of one leaf: the entry's own leaf hash as the root.
      hashes = []; proofIndex = 0; size = 1;
      rootHash = crypto.createHash('sha256').update(Buffer.from([0])).update(Buffer.from(e.bodyB64, 'base64')).digest();
      cp = undefined; set = undefined;
    }
    if (noSet) set = undefined;
    if (noCp) cp = undefined;
    const inclusionProof = {
      hashes: hashes.map((h) => h.toString('hex')),
      logIndex: proofIndex,
      rootHash: rootHash.toString('hex'),
      treeSize: size,
    };
    if (cp !== undefined) inclusionProof.checkpoint = cp;
    const verification = { inclusionProof };
    if (set !== undefined) verification.signedEntryTimestamp = set;
    return {
      [entryId(e)]: {
        body: e.bodyB64,
        integratedTime: e.integratedTime,
        logID: logIdHex,
        logIndex: e.logIndex,
        verification,
      },
    };
  }

  // proposed entry -> {canonical body Buffer, index keys}. `search`: the form
  // POST /log/entries/retrieve accepts (Rekor's UnmarshalEntry without the
  // Insertable check, so a dsse entry may be given in its canonical form).
  function canonicalize(proposed, { search = false } = {}) {
    if (!proposed || typeof proposed !== 'object') throw validation('proposed entry must be an object');
    if (proposed.kind === 'dsse') {
      if (proposed.apiVersion !== '0.0.1') throw err(400, `error processing entry: ${proposed.apiVersion} is not a supported version for dsse`);
      return canonicalizeDsse(proposed.spec, { search });
    }
    if (proposed.kind !== 'hashedrekord') throw err(400, `error processing entry: ${proposed.kind} is not a supported kind (the testbed supports hashedrekord and dsse)`);
    if (proposed.apiVersion !== '0.0.1') throw err(400, `error processing entry: ${proposed.apiVersion} is not a supported version for hashedrekord`);
    const spec = proposed.spec || {};
    const h = spec.data?.hash;
    if (!h || !(h.algorithm in HASH_LEN)) throw validation('validation failure: unsupported or missing spec.data.hash.algorithm');
    if (typeof h.value !== 'string' || !new RegExp(`^[0-9a-fA-F]{${HASH_LEN[h.algorithm]}}$`).test(h.value)) throw validation(`validation failure: invalid value for spec.data.hash.value for ${h.algorithm}`);
    const sigB64 = spec.signature?.content;
    const keyB64 = spec.signature?.publicKey?.content;
    if (typeof sigB64 !== 'string' || !sigB64) throw validation('missing signature');
    if (typeof keyB64 !== 'string' || !keyB64) throw validation('missing public key');
    const sig = Buffer.from(sigB64, 'base64');
    const { publicKey, canonicalKey, subjects } = hashedrekordKey(Buffer.from(keyB64, 'base64').toString('latin1'));
    let ok = false;
    try { ok = verifyPrehashed(publicKey, Buffer.from(h.value, 'hex'), sig); } catch (e) { throw validation(`verifying signature: ${e.message}`); }
    if (!ok) throw validation('verifying signature: invalid signature when validating ASN.1 encoded signature');
    const body = {
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: h.algorithm, value: h.value } },
        signature: { content: sig.toString('base64'), publicKey: { content: Buffer.from(canonicalKey, 'latin1').toString('base64') } },
      },
    };
    const keys = [
      `${h.algorithm}:${h.value}`.toLowerCase(),
      crypto.createHash('sha256').update(canonicalKey).digest('hex'),
      ...subjects.map((s) => s.toLowerCase()),
    ];
    return { body: Buffer.from(canonicalJson(body)), keys };
  }

  function findUuid(id) {
    const s = String(id).toLowerCase();
    let uuid;
    if (/^[0-9a-f]{64}$/.test(s)) uuid = s;
    else if (/^[0-9a-f]{80}$/.test(s)) {
      if (s.slice(0, 16) !== treeIdHex) return undefined;
      uuid = s.slice(16);
    } else throw err(400, `incorrectly formatted uuid ${id}`);
    return byUuid.get(uuid);
  }

  async function create(req, res, body) {
    const proposed = parseJson(body);
    const { body: canon, keys } = canonicalize(proposed);
    const uuid = crypto.createHash('sha256').update(Buffer.from([0])).update(canon).digest('hex');
    const existing = byUuid.get(uuid);
    if (existing) {
      const id = entryId(existing);
      throw err(409, `an equivalent entry already exists in the transparency log with UUID ${id}`, { Location: `/api/v1/log/entries/${id}` });
    }
    const logIndex = tree.append(canon);
    // integrated-time fault: the log says (and signs in the SET) it took
    // the entry in at `value`, Unix seconds.
    const at = faults.take('rekor', 'integrated-time');
    const e = { uuid, logIndex, bodyB64: canon.toString('base64'), integratedTime: at ? Number(at.value) : nowSec() };
    e.set = setFor(e, rk.key, rk.logIdHex);
    entries.push(e); byUuid.set(uuid, e);
    const id = entryId(e);
    for (const k of new Set(keys)) { if (!index.has(k)) index.set(k, []); index.get(k).unshift(id); }
    stats.rekor_entries += 1;
    send(res, 201, logEntry(e, logIndex + 1), { Location: `/api/v1/log/entries/${id}`, ETag: id });
  }

  async function handler(req, res, url) {
    const p = url.pathname;
    if (p.startsWith('/api/v1/')) {
      const delay = faults.take('rekor', 'slow');
      if (delay) await sleep(Number(delay.value) || 2000);
      if (faults.take('rekor', 'http500')) throw err(500, 'unexpected error communicating with transparency log (testbed fault rekor.http500)');
    }
    if (p === '/api/v1/log/entries' && req.method === 'POST') return create(req, res, await readBody(req));
    if (p === '/api/v1/log/entries' && req.method === 'GET') {
      const li = url.searchParams.get('logIndex');
      if (li === null || !/^\d+$/.test(li)) throw err(400, 'logIndex must be a non-negative integer');
      const e = entries[Number(li)];
      if (!e) return send(res, 404, null);
      return send(res, 200, logEntry(e));
    }
    if (p === '/api/v1/log/entries/retrieve' && req.method === 'POST') {
      const q = parseJson(await readBody(req)) || {};
      const uuids = q.entryUUIDs || []; const idxs = q.logIndexes || []; const props = q.entries || [];
      if (uuids.length + idxs.length + props.length > 10) throw err(422, 'more than max allowed 10 entries in request');
      const out = [];
      for (const u of uuids) { const e = findUuid(u); if (e) out.push(logEntry(e)); }
      for (const pe of props) {
        const { body: canon } = canonicalize(pe, { search: true });
        const e = byUuid.get(crypto.createHash('sha256').update(Buffer.from([0])).update(canon).digest('hex'));
        if (e) out.push(logEntry(e));
      }
      for (const i of idxs) { const e = entries[Number(i)]; if (e) out.push(logEntry(e)); }
      return send(res, 200, out);
    }
    const m = /^\/api\/v1\/log\/entries\/([^/]+)$/.exec(p);
    if (m && req.method === 'GET') {
      const e = findUuid(m[1]);
      if (!e) return send(res, 404, null);
      return send(res, 200, logEntry(e));
    }
    if (p === '/api/v1/index/retrieve' && req.method === 'POST') {
      const q = parseJson(await readBody(req)) || {};
      const sets = [];
      if (q.hash) { const h = String(q.hash).toLowerCase(); sets.push(index.get(h.includes(':') ? h : `sha256:${h}`) || []); }
      if (q.email) sets.push(index.get(String(q.email).toLowerCase()) || []);
      if (q.publicKey) {
        let text = String(q.publicKey.content || '');
        if (!text.includes('-----BEGIN')) text = Buffer.from(text, 'base64').toString('latin1');
        const blocks = d.fromPem(text);
        if (!blocks.length) throw err(400, 'public key provided could not be parsed');
        let canonicalKey;
        if (blocks[0].label === 'CERTIFICATE') canonicalKey = blocks.filter((b) => b.label === 'CERTIFICATE').map((b) => d.toPem(b.der)).join('');
        else canonicalKey = d.toPem(crypto.createPublicKey({ key: blocks[0].der, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' }), 'PUBLIC KEY');
        sets.push(index.get(crypto.createHash('sha256').update(canonicalKey).digest('hex')) || []);
      }
      if (!sets.length) throw err(400, 'at least one of hash, email or publicKey is required');
      let result;
      // search-union: `and` ignored (the union, as for `or`), as a
      // misbehaving or hostile Rekor could answer.
      if (q.operator === 'and' && !faults.take('rekor', 'search-union')) result = sets.reduce((a, b) => a.filter((v) => b.includes(v)));
      else result = [...new Set(sets.flat())];
      // search-all: every entry the log holds, newest first, whatever was asked.
      if (faults.take('rekor', 'search-all')) result = entries.map(entryId).reverse();
      return send(res, 200, result);
    }
    if (p === '/api/v1/log' && req.method === 'GET') {
      const wrong = faults.take('rekor', 'wrong-log-key');
      const badCp = faults.take('rekor', 'bad-checkpoint');
      const size = tree.size;
      const cp = wrong ? checkpoint(size, { key: rk.altKey, spki: rk.altSpki }) : badCp ? checkpoint(size, { corrupt: true }) : checkpoint(size);
      return send(res, 200, { inactiveShards: [], rootHash: tree.root(size).toString('hex'), signedTreeHead: cp, treeID: String(treeId), treeSize: size });
    }
    if (p === '/api/v1/log/publicKey' && req.method === 'GET') {
      const wrong = faults.peek('rekor', 'wrong-log-key');
      const spki = wrong ? rk.altSpki : rk.spki;
      return send(res, 200, d.toPem(spki, 'PUBLIC KEY'), { 'Content-Type': 'application/x-pem-file' });
    }
    if (p === '/api/v1/log/proof' && req.method === 'GET') {
      const first = Number(url.searchParams.get('firstSize') ?? 1);
      const last = Number(url.searchParams.get('lastSize'));
      if (!Number.isInteger(first) || !Number.isInteger(last) || first < 1) throw err(400, 'firstSize and lastSize must be positive integers');
      if (first > last) throw err(400, `firstSize(${first}) must be less than lastSize(${last})`);
      if (last > tree.size) throw err(400, `the tree size requested(${last}) was greater than what is currently observable(${tree.size})`);
      const hashes = tree.consistencyProof(first, last).map((h) => h.toString('hex'));
      return send(res, 200, { hashes, rootHash: tree.root(last).toString('hex') });
    }
    throw err(404, 'Not Found');
  }

  return { handler, origin, treeIdHex, tree };
}
