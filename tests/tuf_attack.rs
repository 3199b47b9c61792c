//! Attacks on the TUF client through the gitsign binary, against a TUF
//! repository made here (no testbed): a tiny HTTP mirror in this process
//! serves metadata signed with keys this test holds, so it can play the
//! roles TUF must resist: an insider whose root lists one key twice, and a
//! network attacker holding keys the repository has since rotated out.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{text, Repo};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// A static HTTP mirror: GET serves what `put` stored, else 404.
struct Mirror {
    url: String,
    files: Files,
}

impl Mirror {
    fn start() -> Mirror {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let files: Files = Default::default();
        let f = files.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                let f = f.clone();
                std::thread::spawn(move || serve(s, &f));
            }
        });
        Mirror { url, files }
    }
    fn put(&self, name: &str, data: Vec<u8>) {
        self.files.lock().unwrap().insert(name.to_string(), data);
    }
    fn remove(&self, name: &str) {
        self.files.lock().unwrap().remove(name);
    }
}

fn serve(mut s: TcpStream, files: &Files) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    let body = files.lock().unwrap().get(&path).cloned();
    let _ = match body {
        Some(b) => write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            b.len()
        )
        .and_then(|_| s.write_all(&b)),
        None => s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
    let _ = s.flush();
}

const EXPIRES: &str = "2035-01-01T00:00:00Z";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

/// The key's SubjectPublicKeyInfo as PEM, with the point uncompressed or
/// compressed (one key, two spellings).
fn spki_pem(k: &SigningKey, compressed: bool) -> String {
    const ALG: [u8; 21] = [
        0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
        0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ];
    let pt = k.verifying_key().to_encoded_point(compressed);
    let bits = [&[0u8][..], pt.as_bytes()].concat();
    let bitstring = [&[0x03, bits.len() as u8][..], &bits].concat();
    let inner = [&ALG[..], &bitstring].concat();
    let der = [&[0x30, inner.len() as u8][..], &inner].concat();
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

fn key_json(pem: &str) -> Value {
    json!({"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256", "keyval": {"public": pem}})
}

/// A signed document: `signed` in canonical JSON, signed by each
/// (keyid, key).
fn doc(signed: Value, signers: &[(&str, &SigningKey)]) -> Vec<u8> {
    let canon = gitsign::sigstore::tuf::cjson::encode(&signed).unwrap();
    let sigs: Vec<Value> = signers
        .iter()
        .map(|(id, k)| {
            let s: Signature = k.sign(&canon);
            json!({"keyid": id, "sig": gitsign::encoding::asn1::hex_lower(s.to_der().as_bytes())})
        })
        .collect();
    serde_json::to_vec_pretty(&json!({"signatures": sigs, "signed": signed})).unwrap()
}

/// Root metadata: `keys` (keyid → PEM); every role is `role_ids` with
/// `threshold`, except root, which is `root_ids`.
fn root(
    version: u64,
    keys: &[(&str, String)],
    root_ids: &[&str],
    role_ids: &[&str],
    threshold: u32,
) -> Value {
    let keys: serde_json::Map<String, Value> = keys
        .iter()
        .map(|(id, pem)| (id.to_string(), key_json(pem)))
        .collect();
    let role = |ids: &[&str]| json!({"keyids": ids, "threshold": threshold});
    json!({
        "_type": "root", "spec_version": "1.0.31", "version": version, "expires": EXPIRES,
        "consistent_snapshot": false,
        "keys": keys,
        "roles": {
            "root": role(root_ids), "timestamp": role(role_ids),
            "snapshot": role(role_ids), "targets": role(role_ids),
        }
    })
}

/// Publishes timestamp, snapshot and targets version `version` listing
/// `trusted_root` as trusted_root.json, each signed by `signers`.
fn publish(m: &Mirror, version: u64, trusted_root: &[u8], signers: &[(&str, &SigningKey)]) {
    let sha = gitsign::encoding::asn1::hex_lower(&gitsign::pki::crypto::sha256(trusted_root));
    let targets = json!({
        "_type": "targets", "spec_version": "1.0.31", "version": version, "expires": EXPIRES,
        "targets": {"trusted_root.json": {"length": trusted_root.len(), "hashes": {"sha256": sha}}}
    });
    let snapshot = json!({
        "_type": "snapshot", "spec_version": "1.0.31", "version": version, "expires": EXPIRES,
        "meta": {"targets.json": {"version": version}}
    });
    let timestamp = json!({
        "_type": "timestamp", "spec_version": "1.0.31", "version": version, "expires": EXPIRES,
        "meta": {"snapshot.json": {"version": version}}
    });
    m.put("targets.json", doc(targets, signers));
    m.put("snapshot.json", doc(snapshot, signers));
    m.put("timestamp.json", doc(timestamp, signers));
    m.put("targets/trusted_root.json", trusted_root.to_vec());
}

fn public_good_trusted_root() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/data/trusted_root.prod.json"
    ))
    .unwrap()
}

/// The same trusted root with one more Rekor log whose key the attacker
/// holds: what a successful attack installs.
fn attackers_trusted_root() -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&public_good_trusted_root()).unwrap();
    let mut log = v["tlogs"][0].clone();
    log["baseUrl"] = json!("https://rekor.attacker.example");
    v["tlogs"].as_array_mut().unwrap().push(log);
    serde_json::to_vec_pretty(&v).unwrap()
}

fn initialize(repo: &Repo, m: &Mirror, root_file: &std::path::Path) -> std::process::Output {
    repo.gitsign(&[
        "initialize",
        "--mirror",
        &m.url,
        "--root",
        &root_file.display().to_string(),
    ])
}

fn cached_trusted_root(repo: &Repo) -> Vec<u8> {
    let base = repo.dir.path().join("home/.cache/gitsign/tuf");
    for e in std::fs::read_dir(&base).unwrap() {
        let p = e.unwrap().path().join("targets/trusted_root.json");
        if p.exists() {
            return std::fs::read(p).unwrap();
        }
    }
    panic!("no cached trusted root under {}", base.display());
}

/// A refresh, as any verification command does it when one is due.
fn refresh(repo: &Repo) -> String {
    let mut c = repo.gitsign_cmd(&["verify", "HEAD"]);
    c.env("GITSIGN_TUF_REFRESH", "0");
    text(&c.output().unwrap())
}

/// Severity: low-medium. A threshold of 2 is met by ONE ECDSA key, listed
/// in the root under two key ids, once with its point uncompressed and once
/// compressed. `Envelope::verify` says it counts "distinct keys by their
/// material, so one key listed under two ids counts once", but compares
/// `PublicKey::EcP256` by its encoded point bytes, so the two spellings are
/// two keys. An insider who gets a root accepted that lists their key twice
/// (the key ids and PEMs differ, so it does not look like a duplicate) then
/// alone signs the timestamp, snapshot and targets (here: a trusted root of
/// their choice) that a threshold of two was meant to require.
#[test]
fn one_key_in_two_encodings_does_not_meet_a_threshold_of_two() {
    let tr = public_good_trusted_root();
    // Control: two distinct keys, threshold 2, both sign: initialize works
    // (the harness makes metadata gitsign accepts).
    {
        let (k1, k2) = (key(1), key(2));
        let m = Mirror::start();
        let keys = [("a", spki_pem(&k1, false)), ("b", spki_pem(&k2, false))];
        let r = root(1, &keys, &["a", "b"], &["a", "b"], 2);
        let signers: [(&str, &SigningKey); 2] = [("a", &k1), ("b", &k2)];
        let root_bytes = doc(r, &signers);
        m.put("1.root.json", root_bytes.clone());
        publish(&m, 1, &tr, &signers);
        let repo = Repo::new("tuf-attack-control");
        let f = repo.dir.path().join("root.json");
        std::fs::write(&f, &root_bytes).unwrap();
        let o = initialize(&repo, &m, &f);
        assert!(o.status.success(), "control initialize: {}", text(&o));
        // One of the two keys alone does not meet the threshold.
        publish(&m, 2, &tr, &[("a", &k1)]);
        let t = refresh(&repo);
        assert!(t.contains("1 of the 2 required"), "{t}");
    }
    // The attack: one key under two ids and two encodings.
    let k1 = key(1);
    let m = Mirror::start();
    let keys = [("a", spki_pem(&k1, false)), ("b", spki_pem(&k1, true))];
    let r = root(1, &keys, &["a", "b"], &["a", "b"], 2);
    let signers: [(&str, &SigningKey); 2] = [("a", &k1), ("b", &k1)];
    let root_bytes = doc(r, &signers);
    m.put("1.root.json", root_bytes.clone());
    publish(&m, 1, &attackers_trusted_root(), &signers);
    let repo = Repo::new("tuf-attack-dupkey");
    let f = repo.dir.path().join("root.json");
    std::fs::write(&f, &root_bytes).unwrap();
    let o = initialize(&repo, &m, &f);
    assert!(
        !o.status.success(),
        "one key listed twice (uncompressed and compressed) met a threshold of 2; \
         gitsign now trusts what that one key signed: {}",
        text(&o)
    );
    assert!(
        text(&o).contains("not signed by enough keys"),
        "{}",
        text(&o)
    );
}

/// Severity: low (needs root and online keys the repository has rotated
/// out, plus the network path to the mirror). A FAILED `gitsign initialize`
/// rolls the cached TUF root back: `Updater::update` writes the bootstrap
/// root over `root.json` before anything is verified, and nothing restores
/// it when the update then fails, though initialize says "the trusted root
/// in use is unchanged" (and docs/trust.md: "any failure leaves the
/// previous trust in place"). Every later automatic refresh then starts
/// from the old root; an attacker on the network who withholds
/// `2.root.json` and signs with the retired online key gets a trusted root
/// of their choice installed by an ordinary `git verify-commit`, because
/// the cached timestamp (signed by the new key) no longer verifies, so no
/// rollback baseline remains either.
#[test]
fn a_failed_initialize_does_not_roll_the_tuf_root_back() {
    let tr = public_good_trusted_root();
    let (r1, t1, r2, t2) = (key(11), key(12), key(13), key(14));
    let m = Mirror::start();
    let keys1 = [("r1", spki_pem(&r1, false)), ("t1", spki_pem(&t1, false))];
    let root1 = doc(root(1, &keys1, &["r1"], &["t1"], 1), &[("r1", &r1)]);
    m.put("1.root.json", root1.clone());
    publish(&m, 1, &tr, &[("t1", &t1)]);
    let repo = Repo::new("tuf-attack-reinit");
    let f = repo.dir.path().join("root.json");
    std::fs::write(&f, &root1).unwrap();
    let o = initialize(&repo, &m, &f);
    assert!(o.status.success(), "initialize: {}", text(&o));

    // The repository rotates out r1 and t1 (say, they leaked): root
    // version 2 signed by the old and the new root key; new metadata.
    let keys2 = [("r2", spki_pem(&r2, false)), ("t2", spki_pem(&t2, false))];
    let root2 = doc(
        root(2, &keys2, &["r2"], &["t2"], 1),
        &[("r1", &r1), ("r2", &r2)],
    );
    m.put("2.root.json", root2);
    publish(&m, 2, &tr, &[("t2", &t2)]);
    refresh(&repo);
    let v = text(&repo.gitsign(&["version"]));
    assert!(v.contains("TUF root version 2"), "{v}");

    // The attacker (holding r1/t1, on the network path) withholds
    // 2.root.json and breaks the mirror while the user re-runs the
    // initialize command they were given: it fails, and says the trust in
    // use is unchanged.
    m.remove("2.root.json");
    m.remove("timestamp.json");
    let o = initialize(&repo, &m, &f);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("unchanged"), "{}", text(&o));

    // Later, an ordinary refresh: metadata signed with the retired t1 only,
    // naming the attacker's trusted root.
    let evil = attackers_trusted_root();
    publish(&m, 3, &evil, &[("t1", &t1)]);
    let t = refresh(&repo);
    assert!(
        cached_trusted_root(&repo) != evil,
        "a refresh after a failed initialize accepted metadata signed only by a key root version 2 \
         rotated out; the attacker's trusted root is now in use: {t}"
    );
    let v = text(&repo.gitsign(&["version"]));
    assert!(v.contains("TUF root version 2"), "{v}");
}

fn set_up(tag: &str, root_key: &SigningKey, online: &SigningKey) -> (Mirror, Repo, Vec<u8>) {
    let m = Mirror::start();
    let keys = [
        ("r", spki_pem(root_key, false)),
        ("t", spki_pem(online, false)),
    ];
    let root1 = doc(root(1, &keys, &["r"], &["t"], 1), &[("r", root_key)]);
    m.put("1.root.json", root1.clone());
    publish(&m, 1, &public_good_trusted_root(), &[("t", online)]);
    let repo = Repo::new(tag);
    let f = repo.dir.path().join("root.json");
    std::fs::write(&f, &root1).unwrap();
    let o = initialize(&repo, &m, &f);
    assert!(o.status.success(), "initialize: {}", text(&o));
    (m, repo, root1)
}

/// What held (passes): a network attacker without keys, or with only some,
/// gets each of these refused by an automatic refresh, and the last good
/// trusted root stays.
#[test]
fn attacks_on_the_refresh_that_hold() {
    let (r, t) = (key(21), key(22));
    let (m, repo, _) = set_up("tuf-attack-held", &r, &t);
    let good = cached_trusted_root(&repo);
    let evil = attackers_trusted_root();
    let other = key(23);
    let check = |what: &str, words: &str| {
        let out = refresh(&repo);
        assert!(out.contains("could not refresh"), "{what}: {out}");
        assert!(out.contains(words), "{what}: no {words:?} in {out}");
        assert!(
            cached_trusted_root(&repo) == good,
            "{what}: trusted root replaced"
        );
    };
    // A target whose bytes are not the ones targets.json names (a new
    // trusted root version, so that it is fetched, not read from the cache).
    let mut good2 = good.clone();
    good2.push(b'\n');
    publish(&m, 2, &good2, &[("t", &t)]);
    m.put("targets/trusted_root.json", evil.clone());
    check("target swapped", "trusted_root.json");
    // Metadata signed by a key the root does not list.
    publish(&m, 3, &evil, &[("t", &other)]);
    check("foreign key", "not signed by enough keys");
    // A root rotation signed only by the new root key.
    let keys2 = [
        ("r2", spki_pem(&other, false)),
        ("t2", spki_pem(&other, false)),
    ];
    m.put(
        "2.root.json",
        doc(root(2, &keys2, &["r2"], &["t2"], 1), &[("r2", &other)]),
    );
    check("rotation by the new key only", "2.root.json");
    m.remove("2.root.json");
    // A root rotation whose file says another version.
    m.put(
        "2.root.json",
        doc(
            root(3, &keys2, &["r2"], &["t2"], 1),
            &[("r", &r), ("r2", &other)],
        ),
    );
    check("version skip", "has version 3, not 2");
    m.remove("2.root.json");
    // A good update (version 4), then a replay of an older timestamp.
    publish(&m, 4, &good, &[("t", &t)]);
    let out = refresh(&repo);
    assert!(!out.contains("could not refresh"), "{out}");
    let ts4 = m.files.lock().unwrap()["timestamp.json"].clone();
    publish(&m, 5, &good, &[("t", &t)]);
    let out = refresh(&repo);
    assert!(!out.contains("could not refresh"), "{out}");
    m.put("timestamp.json", ts4);
    check("timestamp rollback", "older than version 5");
    // A snapshot whose version is not the one the timestamp names.
    publish(&m, 6, &evil, &[("t", &t)]);
    let snap5 = doc(
        json!({"_type": "snapshot", "spec_version": "1.0.31", "version": 5, "expires": EXPIRES,
               "meta": {"targets.json": {"version": 6}}}),
        &[("t", &t)],
    );
    m.put("snapshot.json", snap5);
    check("mix and match", "but timestamp.json names version 6");
    // Expired timestamp (a freeze): refused, the last good root kept
    // while the cached metadata is valid (past its expiry the cache is not
    // used at all: `a_frozen_mirror_does_not_keep_a_revoked_key_trusted_past_expiry`).
    let expired = json!({"_type": "timestamp", "spec_version": "1.0.31", "version": 7,
        "expires": "2020-01-01T00:00:00Z", "meta": {"snapshot.json": {"version": 6}}});
    m.put("timestamp.json", doc(expired, &[("t", &t)]));
    check("freeze", "freeze attack");
    // One key signing twice under the same id does not meet a threshold
    // of 2 (threshold raised by a legitimate rotation first).
    let keys3 = [
        ("r", spki_pem(&r, false)),
        ("t", spki_pem(&t, false)),
        ("u", spki_pem(&other, false)),
    ];
    m.put(
        "2.root.json",
        doc(root(2, &keys3, &["r"], &["t", "u"], 2), &[("r", &r)]),
    );
    publish(&m, 8, &evil, &[("t", &t), ("t", &t)]);
    check("same key twice", "1 of the 2 required");
}

/// Publishes version `version` whose timestamp expires at `ts_expires`.
fn publish_expiring(
    m: &Mirror,
    version: u64,
    trusted_root: &[u8],
    signers: &[(&str, &SigningKey)],
    ts_expires: &str,
) {
    publish(m, version, trusted_root, signers);
    let timestamp = json!({
        "_type": "timestamp", "spec_version": "1.0.31", "version": version, "expires": ts_expires,
        "meta": {"snapshot.json": {"version": version}}
    });
    m.put("timestamp.json", doc(timestamp, signers));
}

/// The public-good root with its Rekor v1 key's validity ended in 2022: what
/// Sigstore would publish to revoke a compromised log key.
fn revoked_rekor_trusted_root() -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&public_good_trusted_root()).unwrap();
    for l in v["tlogs"].as_array_mut().unwrap() {
        if l["baseUrl"] == "https://rekor.sigstore.dev" {
            l["publicKey"]["validFor"]["end"] = json!("2022-01-01T00:00:00Z");
        }
    }
    serde_json::to_vec_pretty(&v).unwrap()
}

/// A user whose repository holds the corpus commit signed in June 2023
/// under the public-good Rekor key, with a policy for its signer.
fn corpus_repo(tag: &str) -> (Repo, String) {
    let repo = Repo::new(tag);
    let file = common::fixtures().join("objects/gitsign/gs_td_e2e_offline.commit");
    let id = repo.add_object("commit", &file);
    repo.git_ok(&[
        "config",
        "gitsign.certificateIdentity",
        "billy@chainguard.dev",
    ]);
    repo.git_ok(&[
        "config",
        "gitsign.certificateOidcIssuer",
        "https://accounts.google.com",
    ]);
    (repo, id)
}

fn verify_commit(repo: &Repo, id: &str, refresh: &str) -> std::process::Output {
    let mut c = repo.git_cmd(&["verify-commit", id]);
    c.env("GITSIGN_TUF_REFRESH", refresh);
    c.output().unwrap()
}

/// Severity: medium (fixed: expired TUF metadata is no longer used; this
/// was docs/trust.md's "a stale root is safer than none"). A freeze: the network attacker replays the metadata the user
/// already has, so no refresh ever succeeds once it expires; gitsign keeps
/// the frozen trusted root forever and only adds a warning line. Here the
/// repository has revoked the Rekor key that logged a commit (its
/// `validFor` ended in 2022): a user who refreshed gets BAD, the frozen
/// user still gets "Good signature" from `git verify-commit`, indefinitely
/// after the TUF timestamp expired. sigstore-python and sigstore-go fail a
/// verification whose online refresh fails (they use a stale cache only
/// when told to work offline); TUF's expiry exists to bound exactly this.
#[test]
fn a_frozen_mirror_does_not_keep_a_revoked_key_trusted_past_expiry() {
    let (r, t) = (key(31), key(32));
    let keys = [("r", spki_pem(&r, false)), ("t", spki_pem(&t, false))];
    let root1 = doc(root(1, &keys, &["r"], &["t"], 1), &[("r", &r)]);
    let soon = gitsign::encoding::time::format_time(gitsign::encoding::time::now() + 4);
    // The mirror the frozen user sees: version 1, replayed forever.
    let frozen = Mirror::start();
    frozen.put("1.root.json", root1.clone());
    publish_expiring(&frozen, 1, &public_good_trusted_root(), &[("t", &t)], &soon);
    // The real mirror: version 2 revokes the Rekor key.
    let real = Mirror::start();
    real.put("1.root.json", root1.clone());
    publish(&real, 2, &revoked_rekor_trusted_root(), &[("t", &t)]);

    let (user, id) = corpus_repo("tuf-attack-frozen");
    let f = user.dir.path().join("root.json");
    std::fs::write(&f, &root1).unwrap();
    let o = initialize(&user, &frozen, &f);
    assert!(o.status.success(), "initialize: {}", text(&o));
    let o = verify_commit(&user, &id, "never");
    assert!(
        o.status.success(),
        "control: the commit verifies under v1: {}",
        text(&o)
    );

    // Control: a user of the real mirror gets the revocation: BAD.
    let (other, id2) = corpus_repo("tuf-attack-current");
    let f2 = other.dir.path().join("root.json");
    std::fs::write(&f2, &root1).unwrap();
    let o = initialize(&other, &real, &f2);
    assert!(o.status.success(), "initialize: {}", text(&o));
    let o = verify_commit(&other, &id2, "never");
    assert!(
        !o.status.success(),
        "the revoked key still verifies: {}",
        text(&o)
    );

    // The frozen user, after the replayed timestamp expired.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let o = verify_commit(&user, &id, "0");
    let t = text(&o);
    assert!(t.contains("freeze attack"), "{t}");
    // What scripts and `git log` see: no warning at all.
    let mut c = user.git_cmd(&["log", "-1", "--format=%G?", &id]);
    c.env("GITSIGN_TUF_REFRESH", "never");
    let g = String::from_utf8_lossy(&c.output().unwrap().stdout)
        .trim()
        .to_string();
    assert!(
        !o.status.success() && g != "G",
        "%G? = {g}; frozen TUF metadata (expired) still yields a Good signature under a key the repository \
         has since revoked: {t}"
    );
}
