// RFC 6962 / RFC 9162 Merkle tree, in memory.
import crypto from 'node:crypto';

const sha256 = (...parts) => { const h = crypto.createHash('sha256'); for (const p of parts) h.update(p); return h.digest(); };
export const leafHash = (data) => sha256(Buffer.from([0]), data);
export const nodeHash = (l, r) => sha256(Buffer.from([1]), l, r);

// largest power of two strictly smaller than n (n > 1)
function split(n) { let k = 1; while (k * 2 < n) k *= 2; return k; }

export class MerkleTree {
  constructor() { this.leaves = []; this.memo = new Map(); }
  get size() { return this.leaves.length; }
  append(data) { this.leaves.push(leafHash(data)); return this.leaves.length - 1; }
  appendLeafHash(h) { this.leaves.push(h); return this.leaves.length - 1; }

  // MTH(D[start : start+n])
  hash(start, n) {
    if (n === 0) return sha256();
    if (n === 1) return this.leaves[start];
    const complete = (n & (n - 1)) === 0 && start + n <= this.leaves.length;
    const key = `${start}:${n}`;
    if (complete && this.memo.has(key)) return this.memo.get(key);
    const k = split(n);
    const h = nodeHash(this.hash(start, k), this.hash(start + k, n - k));
    if (complete) this.memo.set(key, h);
    return h;
  }
  root(n = this.size) { return this.hash(0, n); }

  // PATH(m, D[start : start+n]) RFC 6962 2.1.1
  path(m, start, n) {
    if (n <= 1) return [];
    const k = split(n);
    if (m < k) return [...this.path(m, start, k), this.hash(start + k, n - k)];
    return [...this.path(m - k, start + k, n - k), this.hash(start, k)];
  }
  inclusionProof(index, n = this.size) {
    if (index < 0 || index >= n || n > this.size) throw new Error('index out of range');
    return this.path(index, 0, n);
  }

  // SUBPROOF(m, D[start : start+n], b) RFC 6962 2.1.2
  subproof(m, start, n, b) {
    if (m === n) return b ? [] : [this.hash(start, n)];
    const k = split(n);
    if (m <= k) return [...this.subproof(m, start, k, b), this.hash(start + k, n - k)];
    return [...this.subproof(m - k, start + k, n - k, false), this.hash(start, k)];
  }
  consistencyProof(m, n = this.size) {
    if (m < 1 || m > n || n > this.size) throw new Error('sizes out of range');
    if (m === n) return [];
    return this.subproof(m, 0, n, true);
  }
}
