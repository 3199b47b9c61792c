// Minimal DER encoder/decoder: just what the testbed needs to build X.509
// certificates, CMS SignedData (RFC 3161 tokens) and to read CSRs and
// TimeStampReqs. Everything is Buffer based.

function encLen(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  while (n > 0) { bytes.unshift(n & 0xff); n = Math.floor(n / 256); }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag, content) {
  content = Buffer.from(content);
  return Buffer.concat([Buffer.from([tag]), encLen(content.length), content]);
}

const cat = (items) => Buffer.concat(items.flat().filter((x) => x !== null && x !== undefined));

export const seq = (...items) => tlv(0x30, cat(items));
// SET OF: DER wants the elements sorted by their encodings.
export const setOf = (...items) => tlv(0x31, Buffer.concat(items.flat().filter(Boolean).sort(Buffer.compare)));
export const nul = () => Buffer.from([0x05, 0x00]);
export const bool = (b) => Buffer.from([0x01, 0x01, b ? 0xff : 0x00]);
export const octet = (b) => tlv(0x04, b);
export const bitString = (b, unused = 0) => tlv(0x03, Buffer.concat([Buffer.from([unused]), Buffer.from(b)]));
export const utf8 = (s) => tlv(0x0c, Buffer.from(s, 'utf8'));
export const printable = (s) => tlv(0x13, Buffer.from(s, 'latin1'));
export const ia5 = (s) => tlv(0x16, Buffer.from(s, 'latin1'));
export const explicit = (n, inner) => tlv(0xa0 | n, inner);
// context-specific implicit tag, constructed (e.g. [0] IMPLICIT SET OF) or primitive
export const implicit = (n, content, constructed = true) => tlv((constructed ? 0xa0 : 0x80) | n, content);

// INTEGER from a BigInt, number, or unsigned big-endian Buffer.
export function int(v) {
  let b;
  if (Buffer.isBuffer(v)) {
    b = v;
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    b = b.subarray(i);
    if (b.length === 0) b = Buffer.from([0]);
    if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
    return tlv(0x02, b);
  }
  v = BigInt(v);
  if (v < 0n) throw new Error('negative INTEGER not supported');
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  return int(Buffer.from(hex, 'hex'));
}

export function oid(s) {
  const parts = s.split('.').map((x) => BigInt(x));
  const out = [Number(parts[0] * 40n + parts[1])];
  for (const p of parts.slice(2)) {
    const bytes = [];
    let v = p;
    bytes.unshift(Number(v & 0x7fn));
    v >>= 7n;
    while (v > 0n) { bytes.unshift(Number((v & 0x7fn) | 0x80n)); v >>= 7n; }
    out.push(...bytes);
  }
  return tlv(0x06, Buffer.from(out));
}

const pad = (n, w = 2) => String(n).padStart(w, '0');
export function utcTime(d) {
  const s = `${pad(d.getUTCFullYear() % 100)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s));
}
export function genTime(d) {
  const s = `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return tlv(0x18, Buffer.from(s));
}
// RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime after.
export const x509Time = (d) => (d.getUTCFullYear() < 2050 ? utcTime(d) : genTime(d));

// ---- decoding ----

export class DerError extends Error {}

// Parse one TLV at offset. Returns {tag, constructed, start, hlen, len, end, content, raw}.
export function parse(buf, offset = 0) {
  if (offset + 2 > buf.length) throw new DerError('truncated DER');
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError('high tag numbers not supported');
  let p = offset + 1;
  let len = buf[p++];
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('unsupported DER length');
    len = 0;
    for (let i = 0; i < n; i++) {
      if (p >= buf.length) throw new DerError('truncated DER length');
      len = len * 256 + buf[p++];
    }
  }
  const end = p + len;
  if (end > buf.length) throw new DerError('DER value overruns buffer');
  return {
    tag,
    constructed: !!(tag & 0x20),
    start: offset,
    hlen: p - offset,
    len,
    end,
    content: buf.subarray(p, end),
    raw: buf.subarray(offset, end),
  };
}

export function parseAll(buf) {
  const n = parse(buf, 0);
  if (n.end !== buf.length) throw new DerError('trailing data after DER value');
  return n;
}

export function children(node) {
  const out = [];
  let off = 0;
  const c = node.content;
  while (off < c.length) {
    const ch = parse(c, off);
    out.push(ch);
    off = ch.end;
  }
  return out;
}

export function decodeOid(node) {
  if (node.tag !== 0x06) throw new DerError('expected OBJECT IDENTIFIER');
  const b = node.content;
  const parts = [];
  let v = 0n;
  for (let i = 0; i < b.length; i++) {
    v = (v << 7n) | BigInt(b[i] & 0x7f);
    if (!(b[i] & 0x80)) {
      if (parts.length === 0) {
        const first = v < 80n ? v / 40n : 2n;
        parts.push(first, v - first * 40n);
      } else parts.push(v);
      v = 0n;
    }
  }
  return parts.join('.');
}

export function decodeInt(node) {
  if (node.tag !== 0x02) throw new DerError('expected INTEGER');
  if (node.content.length === 0) throw new DerError('empty INTEGER');
  let v = BigInt('0x' + node.content.toString('hex'));
  if (node.content[0] & 0x80) v -= 1n << BigInt(node.content.length * 8);
  return v;
}

export function toPem(der, label = 'CERTIFICATE') {
  const b64 = Buffer.from(der).toString('base64');
  const lines = b64.match(/.{1,64}/g) || [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

// All PEM blocks in a string: [{label, der}]
export function fromPem(text) {
  const out = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  let m;
  while ((m = re.exec(text)) !== null) {
    out.push({ label: m[1], der: Buffer.from(m[2].replace(/\s+/g, ''), 'base64') });
  }
  return out;
}
