// Rekor v1 stand-in: hashedrekord 0.0.1 entries in a real RFC 6962 tree.
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
  function signCheckpoint(size, { key = rk.key, spki = rk.spki, corrupt = false } = {}) {
    const root = tree.root(size);
    const note = `${origin}\n${size}\n${root.toString('base64')}\n`;
    const sig = crypto.sign('sha256', Buffer.from(note), key);
    if (corrupt) sig[sig.length - 3] ^= 0x01;
    return `${note}\n\u2014 ${hostname} ${Buffer.concat([keyhint(spki), sig]).toString('base64')}\n`;
  }
  function checkpoint(size, opts = {}) {
    const custom = opts.key || opts.corrupt;
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
    const logIdHex = wrong ? rk.altLogIdHex : rk.logIdHex;
    const hashes = tree.inclusionProof(e.logIndex, atSize).map((h) => Buffer.from(h));
    let rootHash = tree.root(atSize);
    if (badProof) {
      if (hashes.length) hashes[0][0] ^= 0x01;
      else rootHash = Buffer.from(rootHash.map((b, i) => (i === 0 ? b ^ 1 : b)));
    }
    let set = e.set;
    if (wrong) set = setFor(e, rk.altKey, logIdHex);
    else if (badSet) set = setFor(e, rk.altKey, rk.logIdHex);
    const cp = wrong ? checkpoint(atSize, { key: rk.altKey, spki: rk.altSpki })
      : badCp ? checkpoint(atSize, { corrupt: true }) : checkpoint(atSize);
    return {
      [entryId(e)]: {
        body: e.bodyB64,
        integratedTime: e.integratedTime,
        logID: logIdHex,
        logIndex: e.logIndex,
        verification: {
          inclusionProof: {
            checkpoint: cp,
            hashes: hashes.map((h) => h.toString('hex')),
            logIndex: e.logIndex,
            rootHash: rootHash.toString('hex'),
            treeSize: atSize,
          },
          signedEntryTimestamp: set,
        },
      },
    };
  }

  // hashedrekord 0.0.1 -> {canonical body Buffer, index keys}
  function canonicalize(proposed) {
    if (!proposed || typeof proposed !== 'object') throw validation('proposed entry must be an object');
    if (proposed.kind !== 'hashedrekord') throw err(400, `error processing entry: ${proposed.kind} is not a supported kind (the testbed supports hashedrekord)`);
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
    const pemText = Buffer.from(keyB64, 'base64').toString('latin1');
    const blocks = d.fromPem(pemText);
    if (!blocks.length) throw validation('invalid public key: failure decoding PEM');
    let publicKey; let canonicalKey; const subjects = [];
    try {
      if (blocks[0].label === 'CERTIFICATE') {
        const certs = blocks.filter((b) => b.label === 'CERTIFICATE');
        publicKey = new crypto.X509Certificate(certs[0].der).publicKey;
        canonicalKey = certs.map((c) => d.toPem(c.der)).join('');
        subjects.push(...parseSubjectEmails(certs[0].der));
      } else if (blocks[0].label === 'PUBLIC KEY') {
        publicKey = crypto.createPublicKey({ key: blocks[0].der, format: 'der', type: 'spki' });
        canonicalKey = d.toPem(publicKey.export({ type: 'spki', format: 'der' }), 'PUBLIC KEY');
      } else throw new Error(`unsupported PEM type ${blocks[0].label}`);
    } catch (e) { throw validation(`invalid public key: ${e.message}`); }
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
    const e = { uuid, logIndex, bodyB64: canon.toString('base64'), integratedTime: nowSec() };
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
        const { body: canon } = canonicalize(pe);
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
      if (q.operator === 'and') result = sets.reduce((a, b) => a.filter((v) => b.includes(v)));
      else result = [...new Set(sets.flat())];
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
