// Rekor v2 (rekor-tiles) stand-in: the write API POST /api/v2/log/entries for
// hashedrekord 0.0.2 and dsse 0.0.2 requests, an RFC 6962 tree, checkpoints as
// C2SP signed notes under an Ed25519 key, and GET /api/v2/checkpoint.
//
// What it reproduces, as rekor-tiles and the Rekor v2 spec describe them:
// - the entry body is the protobuf JSON of the log entry, canonicalized
//   (RFC 8785): {apiVersion: "0.0.2", kind, spec: {hashedRekordV002: {data:
//   {algorithm, digest}, signature: {content, verifier}}}} or {dsseV002:
//   {payloadHash, signatures: [{content, verifier}]}};
// - the response is a TransparencyLogEntry in protobuf JSON: logIndex, logId
//   {keyId: the C2SP key ID}, kindVersion, inclusionProof {logIndex, rootHash,
//   treeSize, hashes, checkpoint {envelope}}, canonicalizedBody; no
//   integratedTime, no inclusionPromise (Rekor v2 signs no entry timestamp);
// - the checkpoint "<origin>\n<size>\n<base64 root>\n" + "\n" + one line
//   "— <origin> base64(key ID[0:4] || Ed25519 signature over the note text)",
//   origin = the log URL without scheme, key ID = SHA-256(origin || 0x0A ||
//   0x01 || public key).
import crypto from 'node:crypto';
import { MerkleTree } from './merkle.mjs';
import { verifyPrehashed } from './prehash.mjs';
import { HttpError, readBody, parseJson, send, sleep, canonicalJson } from './util.mjs';

const err = (status, message) => new HttpError(status, { code: status, message });
const invalid = (m) => err(400, `invalid entry: ${m}`);
const b64 = (b) => Buffer.from(b).toString('base64');
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
function unb64(s, what) {
  if (typeof s !== 'string' || !B64.test(s)) throw invalid(`${what} is not base64`);
  return Buffer.from(s, 'base64');
}

// PublicKeyDetails the testbed accepts, with the hash each signs over.
const KEY_DETAILS = {
  PKIX_ECDSA_P256_SHA_256: { type: 'ec', curve: 'prime256v1', hash: 'sha256', hashName: 'SHA2_256' },
  PKIX_ECDSA_P384_SHA_384: { type: 'ec', curve: 'secp384r1', hash: 'sha384', hashName: 'SHA2_384' },
  PKIX_ED25519: { type: 'ed25519', hash: null, hashName: null },
};

// A v2 Verifier {x509Certificate: {rawBytes} | publicKey: {rawBytes}, keyDetails}
// -> {publicKey, details, canonical verifier}. rawBytes may also be given
// directly as a string (the form CLIENTS.md shows).
function parseVerifier(v, what) {
  if (!v || typeof v !== 'object') throw invalid(`missing ${what}`);
  const details = KEY_DETAILS[v.keyDetails];
  if (!details) throw invalid(`${what}: unsupported keyDetails ${JSON.stringify(v.keyDetails)}`);
  const raw = (x) => (typeof x === 'string' ? x : x?.rawBytes);
  let publicKey; let canonical;
  try {
    if (v.x509Certificate !== undefined) {
      const der = unb64(raw(v.x509Certificate), `${what}.x509Certificate`);
      publicKey = new crypto.X509Certificate(der).publicKey;
      canonical = { keyDetails: v.keyDetails, x509Certificate: { rawBytes: b64(der) } };
    } else if (v.publicKey !== undefined) {
      const der = unb64(raw(v.publicKey), `${what}.publicKey`);
      publicKey = crypto.createPublicKey({ key: der, format: 'der', type: 'spki' });
      canonical = { keyDetails: v.keyDetails, publicKey: { rawBytes: b64(der) } };
    } else throw invalid(`${what} has neither x509Certificate nor publicKey`);
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw invalid(`${what}: ${e.message}`);
  }
  const kd = publicKey.asymmetricKeyDetails || {};
  if (publicKey.asymmetricKeyType !== details.type || (details.curve && kd.namedCurve !== details.curve)) {
    throw invalid(`${what}: keyDetails ${v.keyDetails} does not match the key`);
  }
  return { publicKey, details, canonical };
}

export function makeRekor2({ state, origin }) {
  const { faults } = state;
  const tree = new MerkleTree();
  const bodies = [];
  const byLeaf = new Map(); // hex leaf hash -> index (rekor-tiles deduplicates)
  const { key, witnessKey, otherKey } = state.rekor2Keys;
  const raw = (pub) => pub.export({ type: 'spki', format: 'der' }).subarray(-32);
  const keyId = (name, pub) => crypto.createHash('sha256')
    .update(Buffer.concat([Buffer.from(`${name}\n`), Buffer.from([0x01]), raw(pub)])).digest();
  const logId = keyId(origin, key.publicKey);

  function sigLine(name, priv, pub, text) {
    const sig = crypto.sign(null, Buffer.from(text), priv);
    return `\u2014 ${name} ${b64(Buffer.concat([keyId(name, pub).subarray(0, 4), sig]))}\n`;
  }

  // opts: corrupt (flip a signature byte), noteOrigin (sign another origin),
  // witness (a witness cosignature first and a line under the origin's name
  // by another key, before the log's own line).
  function checkpoint(size, opts = {}) {
    const text = `${opts.noteOrigin || origin}\n${size}\n${b64(tree.root(size))}\n`;
    let lines = '';
    if (opts.witness) {
      lines += sigLine('witness.testbed.example/w1', witnessKey.privateKey, witnessKey.publicKey, text);
      lines += sigLine(origin, otherKey.privateKey, otherKey.publicKey, text);
    }
    let own = sigLine(origin, key.privateKey, key.publicKey, text);
    if (opts.corrupt) {
      const [, name, sig] = own.match(/^\u2014 (\S+) (\S+)\n$/);
      const bytes = Buffer.from(sig, 'base64');
      bytes[bytes.length - 1] ^= 1;
      own = `\u2014 ${name} ${b64(bytes)}\n`;
    }
    return `${text}\n${lines}${own}`;
  }

  function hashedrekord(req) {
    if (!req || typeof req !== 'object') throw invalid('missing request');
    const digest = unb64(req.digest, 'digest');
    const s = req.signature;
    if (!s || typeof s !== 'object') throw invalid('missing signature');
    const sig = unb64(s.content, 'signature.content');
    if (!sig.length) throw invalid('missing signature');
    const v = parseVerifier(s.verifier, 'signature.verifier');
    if (!v.details.hash) throw invalid('an Ed25519 signature cannot be over a digest (hashedrekord)');
    if (digest.length !== crypto.createHash(v.details.hash).digest().length) throw invalid(`digest is not a ${v.details.hashName} digest`);
    if (!verifyPrehashed(v.publicKey, digest, sig)) throw invalid('could not verify signature');
    return {
      kind: 'hashedrekord',
      body: {
        apiVersion: '0.0.2',
        kind: 'hashedrekord',
        spec: { hashedRekordV002: { data: { algorithm: v.details.hashName, digest: b64(digest) }, signature: { content: b64(sig), verifier: v.canonical } } },
      },
    };
  }

  function dsse(req) {
    if (!req || typeof req !== 'object') throw invalid('missing request');
    const env = req.envelope;
    if (!env || typeof env !== 'object') throw invalid('missing envelope');
    const payload = unb64(env.payload, 'envelope.payload');
    const type = env.payloadType;
    if (typeof type !== 'string') throw invalid('missing envelope.payloadType');
    const sigs = Array.isArray(env.signatures) ? env.signatures : [];
    if (!sigs.length) throw invalid('the envelope has no signatures');
    const verifiers = (Array.isArray(req.verifiers) ? req.verifiers : []).map((x, i) => parseVerifier(x, `verifiers[${i}]`));
    if (!verifiers.length) throw invalid('missing verifiers');
    const pae = Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${payload.length} `), payload]);
    const out = sigs.map((s, i) => {
      const sig = unb64(s?.sig, `envelope.signatures[${i}].sig`);
      const v = verifiers.find((x) => {
        try {
          return crypto.verify(x.details.hash, pae, x.publicKey, sig);
        } catch { return false; }
      });
      if (!v) throw invalid(`signature ${i} is not verified by any verifier`);
      return { content: b64(sig), verifier: v.canonical };
    });
    return {
      kind: 'dsse',
      body: {
        apiVersion: '0.0.2',
        kind: 'dsse',
        spec: { dsseV002: { payloadHash: { algorithm: 'SHA2_256', digest: b64(crypto.createHash('sha256').update(payload).digest()) }, signatures: out } },
      },
    };
  }

  function entryJson(index, kind, faultsNow) {
    const size = tree.size;
    let hashes = tree.inclusionProof(index, size);
    let root = tree.root(size);
    if (faultsNow.badProof) {
      if (hashes.length) { hashes = hashes.map((h) => Buffer.from(h)); hashes[0][0] ^= 1; } else { root = Buffer.from(root); root[0] ^= 1; }
    }
    const cp = checkpoint(size, {
      corrupt: !!faultsNow.badCp,
      noteOrigin: faultsNow.cpOrigin ? String(faultsNow.cpOrigin.value || 'rekor2.example.org') : undefined,
      witness: !!faultsNow.witness,
    });
    return {
      logIndex: String(index),
      logId: { keyId: b64(logId) },
      kindVersion: { kind, version: '0.0.2' },
      inclusionProof: {
        logIndex: String(index),
        rootHash: b64(root),
        treeSize: String(size),
        hashes: hashes.map(b64),
        checkpoint: { envelope: cp },
      },
      canonicalizedBody: b64(bodies[index]),
    };
  }

  const handler = async (req, res, url) => {
    const p = url.pathname;
    if (p.startsWith('/api/v2/')) {
      const delay = faults.take('rekor2', 'slow');
      if (delay) await sleep(Number(delay.value) || 2000);
      if (faults.take('rekor2', 'http500')) throw err(500, 'unexpected error (testbed fault rekor2.http500)');
    }
    if (p === '/api/v2/checkpoint' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(checkpoint(tree.size));
      return undefined;
    }
    if (p === '/api/v2/log/entries' && req.method === 'POST') {
      const b = parseJson(await readBody(req), (m) => ({ code: 400, message: m }));
      if (!b || typeof b !== 'object') throw invalid('the request is not a JSON object');
      const hr = b.hashedRekordRequestV0_0_2 ?? b.hashedRekordRequestV002;
      const ds = b.dsseRequestV0_0_2 ?? b.dsseRequestV002;
      if ((hr === undefined) === (ds === undefined)) throw invalid('exactly one of hashedRekordRequestV0_0_2 and dsseRequestV0_0_2 is required');
      const made = hr !== undefined ? hashedrekord(hr) : dsse(ds);
      const body = Buffer.from(canonicalJson(made.body));
      const leaf = crypto.createHash('sha256').update(Buffer.concat([Buffer.from([0]), body])).digest('hex');
      let index = byLeaf.get(leaf);
      if (index === undefined) {
        index = tree.append(body);
        bodies.push(body);
        byLeaf.set(leaf, index);
        state.stats.rekor2_entries += 1;
      }
      const faultsNow = {
        badProof: faults.take('rekor2', 'bad-proof'),
        badCp: faults.take('rekor2', 'bad-checkpoint'),
        cpOrigin: faults.take('rekor2', 'checkpoint-origin'),
        witness: faults.take('rekor2', 'witness'),
      };
      return send(res, 201, entryJson(index, made.kind, faultsNow));
    }
    throw err(404, `no route ${req.method} ${p}`);
  };
  return { handler, logId, origin };
}
