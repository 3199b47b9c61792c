#!/usr/bin/env python3
"""The testbed's TUF repository, made with python-tuf (not the client under
test): root and online keys, consistent snapshots, targets trusted_root.json
and signing_config.v0.2.json, in the public-good layout (metadata at the
mirror's root, targets under targets/<sha256>.<name>).

  tuf_repo.py seed SEED_DIR
      once per machine: a root key (ECDSA P-256, as Sigstore's), an online
      key (Ed25519) for targets, snapshot and timestamp, and 1.root.json
  tuf_repo.py init REPO SEED_DIR TRUSTED_ROOT SIGNING_CONFIG
      a repository for one testbed instance: 1.root.json from the seed,
      targets/snapshot/timestamp version 1
  tuf_repo.py publish REPO TRUSTED_ROOT SIGNING_CONFIG
      new targets (both files), snapshot and timestamp versions
  tuf_repo.py expire-timestamp REPO SECONDS
      a new timestamp that expires SECONDS from now (negative: already expired)
  tuf_repo.py rollback-snapshot REPO
      a new timestamp naming snapshot version 1 (an older, validly signed one)
  tuf_repo.py corrupt-signature REPO
      a new timestamp whose signature is altered
  tuf_repo.py rotate-root REPO
      root version N+1 with a new root key and a new timestamp key, signed
      by the old and new root keys; a new timestamp under the new key
  tuf_repo.py restore REPO
      a new, good timestamp naming the newest snapshot

REPO holds keys/ (private keys, never served) and repo/ (what the mirror
serves). Every command prints the versions as JSON.
"""

import hashlib
import json
import os
import shutil
import sys
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives import serialization
from securesystemslib.signer import CryptoSigner, SSlibKey
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

TARGETS = {"trusted_root.json": 2, "signing_config.v0.2.json": 3}  # argv index
SER = JSONSerializer(compact=False)


def now():
    return datetime.now(timezone.utc).replace(microsecond=0)


def save_key(signer, path):
    with open(path, "wb") as f:
        f.write(signer.private_bytes)
    os.chmod(path, 0o600)


def load_key(path):
    with open(path, "rb") as f:
        priv = serialization.load_pem_private_key(f.read(), password=None)
    return CryptoSigner(priv, SSlibKey.from_crypto(priv.public_key()))


def write(md, path):
    tmp = path + ".tmp"
    md.to_file(tmp, serializer=SER)
    os.replace(tmp, path)


def seed(seed_dir):
    """Made in a private directory, then renamed into place whole: two
    instances seeding at once never mix their keys (the loser's is dropped)."""
    parent = os.path.dirname(os.path.abspath(seed_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = "%s.tmp-%d" % (seed_dir, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp, mode=0o700)
    root_key = CryptoSigner.generate_ecdsa()
    online = CryptoSigner.generate_ed25519()
    root = Root(expires=now() + timedelta(days=3650))
    root.add_key(root_key.public_key, "root")
    for role in ("targets", "snapshot", "timestamp"):
        root.add_key(online.public_key, role)
    md = Metadata(root)
    md.sign(root_key)
    save_key(root_key, os.path.join(tmp, "root.key"))
    save_key(online, os.path.join(tmp, "online.key"))
    write(md, os.path.join(tmp, "1.root.json"))
    try:
        os.rename(tmp, seed_dir)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not os.path.exists(os.path.join(seed_dir, "1.root.json")):
            raise


class Repo:
    def __init__(self, path):
        self.path = path
        self.keys = os.path.join(path, "keys")
        self.repo = os.path.join(path, "repo")
        with open(os.path.join(path, "versions.json")) as f:
            self.v = json.load(f)

    def key(self, name):
        return load_key(os.path.join(self.keys, name))

    def md(self, name):
        return Metadata.from_file(os.path.join(self.repo, name))

    def root(self):
        return self.md("%d.root.json" % self.v["root"])

    def save(self):
        with open(os.path.join(self.path, "versions.json"), "w") as f:
            json.dump(self.v, f)
        print(json.dumps(self.v))

    def timestamp_key(self):
        name = "timestamp.key" if os.path.exists(os.path.join(self.keys, "timestamp.key")) else "online.key"
        return self.key(name)

    def publish_targets(self, trusted_root, signing_config):
        tv = self.v["targets"] + 1
        targets = Targets(version=tv, expires=now() + timedelta(days=365))
        os.makedirs(os.path.join(self.repo, "targets"), exist_ok=True)
        for name, src in (("trusted_root.json", trusted_root), ("signing_config.v0.2.json", signing_config)):
            with open(src, "rb") as f:
                data = f.read()
            tf = TargetFile.from_data(name, data, ["sha256", "sha512"])
            targets.targets[name] = tf
            for h in tf.hashes.values():
                with open(os.path.join(self.repo, "targets", "%s.%s" % (h, name)), "wb") as f:
                    f.write(data)
        md = Metadata(targets)
        md.sign(self.key("online.key"))
        write(md, os.path.join(self.repo, "%d.targets.json" % tv))
        self.v["targets"] = tv
        self.publish_snapshot()

    def publish_snapshot(self):
        sv = self.v["snapshot"] + 1
        snap = Snapshot(version=sv, expires=now() + timedelta(days=30))
        snap.meta["targets.json"] = MetaFile(version=self.v["targets"])
        md = Metadata(snap)
        md.sign(self.key("online.key"))
        write(md, os.path.join(self.repo, "%d.snapshot.json" % sv))
        self.v["snapshot"] = sv
        self.publish_timestamp(sv)

    def publish_timestamp(self, snapshot_version, expires_in=86400, corrupt=False):
        path = os.path.join(self.repo, "%d.snapshot.json" % snapshot_version)
        with open(path, "rb") as f:
            data = f.read()
        ts = Timestamp(
            version=self.v["timestamp"] + 1,
            expires=now() + timedelta(seconds=expires_in),
            snapshot_meta=MetaFile(
                version=snapshot_version,
                length=len(data),
                hashes={"sha256": hashlib.sha256(data).hexdigest()},
            ),
        )
        md = Metadata(ts)
        md.sign(self.timestamp_key())
        if corrupt:
            sig = next(iter(md.signatures.values()))
            flipped = "%02x" % (int(sig.signature[8:10], 16) ^ 1)
            sig.signature = sig.signature[:8] + flipped + sig.signature[10:]
        write(md, os.path.join(self.repo, "timestamp.json"))
        self.v["timestamp"] += 1

    def rotate_root(self):
        old = self.root()
        old_key = self.key("root.key")
        new_key = CryptoSigner.generate_ecdsa()
        new_ts = CryptoSigner.generate_ed25519()
        root = old.signed
        root.version += 1
        root.expires = now() + timedelta(days=3650)
        for kid in list(root.roles["root"].keyids):
            root.revoke_key(kid, "root")
        root.add_key(new_key.public_key, "root")
        for kid in list(root.roles["timestamp"].keyids):
            root.revoke_key(kid, "timestamp")
        root.add_key(new_ts.public_key, "timestamp")
        md = Metadata(root)
        md.sign(old_key, append=True)
        md.sign(new_key, append=True)
        write(md, os.path.join(self.repo, "%d.root.json" % root.version))
        save_key(new_key, os.path.join(self.keys, "root.key"))
        save_key(new_ts, os.path.join(self.keys, "timestamp.key"))
        self.v["root"] = root.version
        self.publish_timestamp(self.v["snapshot"])


def main(argv):
    cmd = argv[1]
    if cmd == "seed":
        seed(argv[2])
        return
    path = argv[2]
    if cmd == "init":
        seed_dir, trusted_root, signing_config = argv[3], argv[4], argv[5]
        os.makedirs(os.path.join(path, "keys"), exist_ok=True)
        os.makedirs(os.path.join(path, "repo"), exist_ok=True)
        for n in ("root.key", "online.key"):
            shutil.copyfile(os.path.join(seed_dir, n), os.path.join(path, "keys", n))
        if not os.path.exists(os.path.join(path, "repo", "1.root.json")):
            shutil.copyfile(os.path.join(seed_dir, "1.root.json"), os.path.join(path, "repo", "1.root.json"))
        with open(os.path.join(path, "versions.json"), "w") as f:
            json.dump({"root": 1, "targets": 0, "snapshot": 0, "timestamp": 0}, f)
        r = Repo(path)
        r.publish_targets(trusted_root, signing_config)
        r.save()
        return
    r = Repo(path)
    if cmd == "publish":
        r.publish_targets(argv[3], argv[4])
    elif cmd == "expire-timestamp":
        r.publish_timestamp(r.v["snapshot"], expires_in=int(argv[3]))
    elif cmd == "rollback-snapshot":
        r.publish_timestamp(1)
    elif cmd == "corrupt-signature":
        r.publish_timestamp(r.v["snapshot"], corrupt=True)
    elif cmd == "rotate-root":
        r.rotate_root()
    elif cmd == "restore":
        r.publish_timestamp(r.v["snapshot"])
    else:
        raise SystemExit("unknown command %s" % cmd)
    r.save()


if __name__ == "__main__":
    main(sys.argv)
