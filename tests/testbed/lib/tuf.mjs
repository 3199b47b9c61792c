// The testbed's TUF mirror: serves a repository made by python-tuf
// (tuf_repo.py, run in the sigstore-python venv), in the public-good layout
// (N.root.json, timestamp.json, N.snapshot.json, N.targets.json at the
// mirror's root, targets/<hash>.<name>).
//
// Start-up stays cheap: the root and online keys and 1.root.json are made
// once per machine (the "seed", ~0.5 s of python the first time) and copied;
// this instance's targets, snapshot and timestamp are made on the first
// request to the mirror or to the control API's /tuf, not at start.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { send, HttpError } from './util.mjs';

const run = promisify(execFile);

export function makeTuf({ state, here, stateDir, trustFiles, onNewTrustedRoot }) {
  const { faults, log } = state;
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const seedDir = process.env.TESTBED_TUF_SEED || path.join(cache, 'gitsign-testbed', 'tuf-seed-v1');
  const repoDir = path.join(stateDir, 'tuf');
  const served = path.join(repoDir, 'repo');
  const script = path.join(here, 'tuf_repo.py');
  const python = path.join(here, 'sigstore-python');
  let ready = null;
  let queue = Promise.resolve();

  async function py(...args) {
    const t = Date.now();
    const { stdout } = await run(python, ['--python', script, ...args], { maxBuffer: 1 << 20 });
    log(`tuf ${args[0]}: ${stdout.trim()} (${Date.now() - t} ms)`);
    return stdout.trim() ? JSON.parse(stdout.trim().split('\n').pop()) : null;
  }

  // The seed (once per machine) and this instance's 1.root.json: at start.
  // python-tuf comes from the sigstore-python venv; a start never waits for
  // that venv to be made (tests/run makes it first).
  async function prepare() {
    const venv = process.env.TESTBED_VENV || path.join(cache, 'gitsign-testbed', 'venv-sigstore-4.5.1');
    if (!fs.existsSync(path.join(seedDir, '1.root.json'))) {
      if (!fs.existsSync(path.join(venv, '.complete'))) {
        throw new Error(`python-tuf's venv ${venv} is missing; run tests/testbed/sigstore-python --venv to make it`);
      }
      await py('seed', seedDir);
    }
    fs.mkdirSync(served, { recursive: true });
    fs.copyFileSync(path.join(seedDir, '1.root.json'), path.join(served, '1.root.json'));
  }

  // The rest: on first use.
  function ensure() {
    if (!ready) ready = py('init', repoDir, seedDir, trustFiles.trustedRoot, trustFiles.signingConfig);
    return ready;
  }

  // One python-tuf command at a time, in order.
  function serial(fn) {
    const p = queue.then(fn, fn);
    queue = p.catch(() => {});
    return p;
  }

  const SAFE = /^(targets\/)?[A-Za-z0-9][A-Za-z0-9._-]*$/;
  async function handler(req, res, url) {
    if (faults.take('tuf', 'down')) { req.socket.destroy(); return undefined; }
    if (faults.take('tuf', 'http500')) throw new HttpError(500, { code: 500, message: 'mirror fault' });
    if (req.method !== 'GET') throw new HttpError(405, { error: 'GET only' });
    const rel = decodeURIComponent(url.pathname).replace(/^\/+/, '');
    if (!SAFE.test(rel) || rel.includes('..')) throw new HttpError(404, { error: 'no such file' });
    if (rel === 'timestamp.json' && faults.take('tuf', 'huge')) {
      // An endless timestamp: a client must stop reading at its bound.
      res.on('error', () => {});
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1 << 20, 0x20);
      let left = 64;
      const more = () => { while (left > 0) { left -= 1; if (!res.write(chunk)) { res.once('drain', more); return; } } res.end(); };
      more();
      return undefined;
    }
    if (rel !== '1.root.json') await serial(ensure);
    const file = path.join(served, rel);
    let data;
    try { data = fs.readFileSync(file); } catch { res.writeHead(404, { 'content-type': 'text/plain' }); res.end('not found'); return undefined; }
    const tamper = /^targets\/[0-9a-f]+\.trusted_root\.json$/.test(rel) && faults.take('tuf', 'tamper-target');
    if (tamper) {
      // The trusted root target altered on the way: one byte changed (its
      // hashes no longer match targets.json), or with value "length" one
      // byte added (nor does its length).
      data = Buffer.from(data);
      if (tamper.value === 'length') data = Buffer.concat([data, Buffer.from(' ')]);
      else data[data.length >> 1] ^= 0x01;
    }
    state.stats.tuf_requests += 1;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': data.length });
    res.end(data);
    return undefined;
  }

  // Control API: POST /tuf {action, value?}
  async function control(b) {
    const action = b.action;
    return serial(async () => {
      await ensure();
      switch (action) {
        case 'publish': return py('publish', repoDir, trustFiles.trustedRoot, trustFiles.signingConfig);
        case 'new-trusted-root': onNewTrustedRoot(); return py('publish', repoDir, trustFiles.trustedRoot, trustFiles.signingConfig);
        case 'rotate-root': return py('rotate-root', repoDir);
        case 'expire-timestamp': return py('expire-timestamp', repoDir, String(b.value ?? -3600));
        case 'rollback-snapshot': return py('rollback-snapshot', repoDir);
        case 'corrupt-signature': return py('corrupt-signature', repoDir);
        case 'restore': return py('restore', repoDir);
        default: throw new HttpError(400, { error: `unknown tuf action ${action}`, known: ['publish', 'new-trusted-root', 'rotate-root', 'expire-timestamp', 'rollback-snapshot', 'corrupt-signature', 'restore'] });
      }
    });
  }

  return { handler, control, prepare, rootPath: path.join(served, '1.root.json') };
}
