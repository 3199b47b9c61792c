//! Transparency-log data nobody signed must not verify. Each test removes or
//! swaps what authenticates a value the verdict uses — the SET (which alone
//! covers the integration time and the log index), the checkpoint (which
//! alone ties an inclusion proof's root to the log), the checkpoint's
//! origin, key name or tree size — and asserts refusal, for the reason
//! named, through the paths a user runs: `git verify-commit`,
//! `gitsign verify`, the pre-receive hook, and the signer's check of what
//! Rekor answers. The honest variant of each still verifies, so the
//! harness that builds the forgeries is shown faithful.

mod common;

use common::{expect_sign_failure, fixtures, gitsign_bin, text, Repo, TempDir, Testbed};
use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};
use gitsign::pki::cms::{self, SignedData};
use gitsign::pki::tsa::{self, TsaClient};
use gitsign::sign::{self, Credential};
use gitsign::sigstore::fulcio::FulcioClient;
use gitsign::sigstore::http::Http;
use gitsign::sigstore::rekor::RekorClient;
use gitsign::sigstore::tlog::{self, InclusionProof, LogEntry};
use gitsign::sigstore::trust::TrustedRoot;
use gitsign::verify;

const ALICE: &str = "alice@example.com";

/// The commit with its signature's embedded log entry (body rebuilt, as a
/// verifier sees it) passed through `f`; the CMS is rebuilt around the same
/// signed attributes and signature, so only the unsigned entry changes.
fn with_entry(commit: &[u8], f: impl FnOnce(&mut LogEntry)) -> Vec<u8> {
    let signed = gitobj::split(commit, ObjectKind::Commit, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    let der = cms::unarmor(&signed.signature).unwrap();
    let sd = SignedData::from_der(&der).unwrap();
    let cert = sd.signer_certificate().unwrap();
    let mut entry = verify::embedded_entry(&sd, cert).unwrap().unwrap();
    f(&mut entry);
    let mut attrs = vec![cms::tlog_attribute(&entry.to_protobuf(false)).unwrap()];
    if let Some(token) = tsa::embedded_token(&sd.signer).unwrap() {
        attrs.push(tsa::token_attribute(&token));
    }
    let der = cms::build_signed_data(
        &sd.signer.signed_attrs_der,
        &sd.signer.signature,
        cert,
        &attrs,
    )
    .unwrap();
    gitobj::join_commit(&signed.payload, cms::armor(&der).as_bytes(), HashAlgo::Sha1)
}

/// An entry "proved" by a one-leaf tree rooted in its own leaf hash, with
/// no SET and no checkpoint: what anyone can compute without the log.
fn self_rooted(entry: &mut LogEntry, integrated_time: i64) {
    entry.set = None;
    entry.integrated_time = integrated_time;
    entry.log_index = 7;
    entry.proof = Some(InclusionProof {
        log_index: 0,
        root_hash: tlog::leaf_hash(&entry.body).to_vec(),
        tree_size: 1,
        hashes: Vec::new(),
        checkpoint: None,
    });
}

/// `git verify-commit --raw` and `gitsign verify` of the commit `bytes`
/// (added to `repo` as a shallow object): (git's output, gitsign's output,
/// git's success, gitsign's success).
fn verify_both(repo: &Repo, bytes: &[u8], tag: &str) -> (String, String, bool, bool) {
    let file = repo.dir.path().join(format!("{tag}.commit"));
    std::fs::write(&file, bytes).unwrap();
    let id = repo.add_object("commit", &file);
    // --raw shows the status lines; without it git shows gitsign's report.
    let raw = repo.git(&["verify-commit", "--raw", &id]);
    let plain = repo.git(&["verify-commit", &id]);
    assert_eq!(raw.status.success(), plain.status.success());
    let s = repo.gitsign(&["verify", &id]);
    (
        format!("{}{}", text(&raw), text(&plain)),
        text(&s),
        raw.status.success(),
        s.status.success(),
    )
}

fn assert_refused(repo: &Repo, bytes: &[u8], tag: &str, reason: &[&str]) {
    let (g, s, g_ok, s_ok) = verify_both(repo, bytes, tag);
    assert!(!g_ok, "{tag}: git verify-commit accepted it:\n{g}");
    assert!(g.contains("[GNUPG:] BADSIG"), "{tag}: {g}");
    assert!(!g.contains("GOODSIG"), "{tag}: {g}");
    assert!(!s_ok, "{tag}: gitsign verify accepted it:\n{s}");
    assert!(!s.contains("Good signature"), "{tag}: {s}");
    for r in reason {
        assert!(g.contains(r), "{tag}: git's output lacks {r:?}:\n{g}");
        assert!(
            s.contains(r),
            "{tag}: gitsign verify's output lacks {r:?}:\n{s}"
        );
    }
}

/// A repository that trusts the embedded public-good root and the signer
/// of the corpus commit.
fn corpus_repo(identity: &str, issuer: &str) -> Repo {
    let repo = Repo::new("forgery");
    repo.git_ok(&["config", "gitsign.certificateIdentity", identity]);
    repo.git_ok(&["config", "gitsign.certificateOidcIssuer", issuer]);
    repo
}

fn corpus_commit(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("objects/gitsign").join(name)).unwrap()
}

fn corpus_signer(commit: &[u8]) -> (String, String, i64, i64) {
    let signed = gitobj::split(commit, ObjectKind::Commit, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    let sd = SignedData::from_der(&cms::unarmor(&signed.signature).unwrap()).unwrap();
    let cert = sd.signer_certificate().unwrap();
    let claims = gitsign::pki::claims::Claims::from_certificate(cert).unwrap();
    (
        claims.identity,
        claims.issuer.unwrap(),
        cert.not_before,
        cert.not_after,
    )
}

#[test]
fn real_signatures_with_the_logs_signatures_removed_are_refused() {
    let commit = corpus_commit("gs_commit_offline_latest.commit");
    let (identity, issuer, not_before, _) = corpus_signer(&commit);
    let repo = corpus_repo(&identity, &issuer);

    // The harness is faithful: rebuilt unchanged, the commit verifies.
    let same = with_entry(&commit, |_| {});
    let (g, s, g_ok, s_ok) = verify_both(&repo, &same, "unchanged");
    assert!(g_ok && g.contains("[GNUPG:] GOODSIG"), "{g}");
    assert!(s_ok && s.contains("Signer trusted"), "{s}");

    // No SET, no checkpoint, a proof rooted in the entry itself, and a
    // time and index of the forger's choosing.
    let forged = with_entry(&commit, |e| self_rooted(e, not_before + 5));
    assert_refused(&repo, &forged, "self-rooted", &["no signed checkpoint"]);

    // The genuine proof and checkpoint, the SET dropped, the time moved:
    // neither covers the time, so there is none.
    let moved = with_entry(&commit, |e| {
        e.set = None;
        e.integrated_time = not_before + 1;
    });
    assert_refused(
        &repo,
        &moved,
        "no-set",
        &["no signed entry timestamp (SET)", "rekorSET"],
    );

    // The SET kept, the checkpoint dropped: the proof's root is nobody's.
    let no_cp = with_entry(&commit, |e| {
        if let Some(p) = e.proof.as_mut() {
            p.checkpoint = None;
        }
    });
    assert_refused(&repo, &no_cp, "no-checkpoint", &["no signed checkpoint"]);

    // A real checkpoint of the same log, but of another tree (another
    // corpus signature's): signed by the log, not for this proof.
    let other = corpus_commit("gs_commit_offline_kaplan.commit");
    let signed = gitobj::split(&other, ObjectKind::Commit, HashAlgo::Sha1)
        .unwrap()
        .unwrap();
    let sd = SignedData::from_der(&cms::unarmor(&signed.signature).unwrap()).unwrap();
    let other_cp = verify::embedded_entry(&sd, sd.signer_certificate().unwrap())
        .unwrap()
        .unwrap()
        .proof
        .unwrap()
        .checkpoint;
    let swapped = with_entry(&commit, |e| {
        if let Some(p) = e.proof.as_mut() {
            p.checkpoint = other_cp.clone();
        }
    });
    assert_refused(
        &repo,
        &swapped,
        "other-checkpoint",
        &[
            "but the log's signed checkpoint is for size",
            "rekorCheckpoint",
        ],
    );

    // Neither SET nor proof.
    let bare = with_entry(&commit, |e| {
        e.set = None;
        e.proof = None;
    });
    assert_refused(
        &repo,
        &bare,
        "bare",
        &["neither a signed entry timestamp (SET) nor an inclusion proof"],
    );
}

/// A testbed identity's credential and clients, to forge as a signer who
/// holds a key but never had the log sign anything.
struct Forger {
    tb: Testbed,
    root: TrustedRoot,
    cred: Credential,
    rekor: RekorClient,
    tsa: TsaClient,
}

impl Forger {
    fn new() -> Forger {
        Forger::with_cert_ttl(600)
    }

    /// With certificates valid for `ttl` seconds.
    fn with_cert_ttl(ttl: u32) -> Forger {
        let tb = Testbed::start();
        tb.config("certTtl", ttl.into());
        let http = Http::new(std::time::Duration::from_secs(20)).unwrap();
        let root =
            TrustedRoot::from_file(std::path::Path::new(tb.var("GITSIGN_TRUSTED_ROOT"))).unwrap();
        let fulcio = FulcioClient::new(tb.var("GITSIGN_FULCIO_URL"), http.clone());
        let token = tb.token(ALICE, 600);
        let cred = sign::request_credential(
            &fulcio,
            &token,
            ALICE,
            &root,
            gitsign::encoding::time::now(),
        )
        .unwrap();
        let rekor = RekorClient::new(tb.var("GITSIGN_REKOR_URL"), http.clone());
        let tsa = TsaClient::new(tb.var("TESTBED_TSA_URL"), http);
        Forger {
            tb,
            root,
            cred,
            rekor,
            tsa,
        }
    }

    /// A root commit (empty tree) by alice, unsigned.
    fn payload(msg: &str) -> Vec<u8> {
        format!(
            "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor alice <{ALICE}> 1700000000 +0000\n\
             committer alice <{ALICE}> 1700000000 +0000\n\n{msg}\n"
        )
        .into_bytes()
    }

    /// Signed attributes over `payload` and the key's signature over them.
    fn sign(&self, payload: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let attrs = cms::signed_attributes(payload, gitsign::encoding::time::now()).unwrap();
        let sig = self.cred.sign(&attrs).unwrap();
        (attrs, sig)
    }

    /// The commit carrying a CMS of these pieces.
    fn commit(
        &self,
        payload: &[u8],
        attrs: &[u8],
        sig: &[u8],
        entry: Option<&LogEntry>,
        token: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut unsigned = Vec::new();
        if let Some(e) = entry {
            let mut e = e.clone();
            e.kind_version = Some(("hashedrekord".into(), "0.0.1".into()));
            unsigned.push(cms::tlog_attribute(&e.to_protobuf(false)).unwrap());
        }
        if let Some(t) = token {
            unsigned.push(tsa::token_attribute(t));
        }
        let der = cms::build_signed_data(attrs, sig, self.cred.leaf(), &unsigned).unwrap();
        gitobj::join_commit(payload, cms::armor(&der).as_bytes(), HashAlgo::Sha1)
    }

    /// A genuine Rekor entry for this signature.
    fn logged(&self, attrs: &[u8], sig: &[u8]) -> LogEntry {
        let pem = verify::certificate_pem(self.cred.leaf());
        self.rekor
            .create_hashedrekord(&gitsign::pki::crypto::sha256(attrs), sig, &pem)
            .unwrap()
    }

    fn self_rooted(&self, attrs: &[u8], sig: &[u8]) -> LogEntry {
        let pem = verify::certificate_pem(self.cred.leaf());
        let mut e = LogEntry {
            log_index: 0,
            log_id: self.root.tlogs[0].log_id.clone(),
            integrated_time: 0,
            body: tlog::hashedrekord_body(&gitsign::pki::crypto::sha256(attrs), sig, &pem),
            set: None,
            proof: None,
            kind_version: None,
        };
        self_rooted(&mut e, self.cred.leaf().not_before + 1);
        e
    }

    /// A repository trusting the testbed and alice.
    fn repo(&self) -> Repo {
        let mut repo = Repo::new("forger");
        repo.env.extend(self.tb.gitsign_env());
        repo.git_ok(&["config", "gitsign.certificateIdentity", ALICE]);
        repo.git_ok(&[
            "config",
            "gitsign.certificateOidcIssuer",
            self.tb.var("GITSIGN_OIDC_ISSUER"),
        ]);
        repo
    }
}

#[test]
fn a_key_holder_cannot_sign_without_the_log() {
    let f = Forger::new();
    let repo = f.repo();

    // Honest: the log signed (SET and checkpoint) -> good.
    let p = Forger::payload("logged");
    let (attrs, sig) = f.sign(&p);
    let entry = f.logged(&attrs, &sig);
    let (g, s, g_ok, s_ok) = verify_both(
        &repo,
        &f.commit(&p, &attrs, &sig, Some(&entry), None),
        "honest",
    );
    assert!(
        g_ok && g.contains("GOODSIG") && g.contains("TRUST_FULLY"),
        "{g}"
    );
    assert!(s_ok, "{s}");

    // Never logged: a self-rooted proof with a time of the forger's choice.
    let p = Forger::payload("never logged");
    let (attrs, sig) = f.sign(&p);
    let forged = f.self_rooted(&attrs, &sig);
    let bytes = f.commit(&p, &attrs, &sig, Some(&forged), None);
    assert_refused(
        &repo,
        &bytes,
        "unlogged",
        &["no signed checkpoint", "rekorCheckpoint"],
    );

    // ... and a genuine RFC 3161 timestamp does not rescue it: the proof
    // still has no checkpoint the log signed.
    let ts = f.tsa.timestamp(&sig, &f.root).unwrap();
    let bytes = f.commit(&p, &attrs, &sig, Some(&forged), Some(&ts.token));
    assert_refused(&repo, &bytes, "unlogged+tsa", &["no signed checkpoint"]);

    // Logged, SET removed, no timestamp: included, but nothing dates it.
    let p = Forger::payload("no set");
    let (attrs, sig) = f.sign(&p);
    let mut entry = f.logged(&attrs, &sig);
    entry.set = None;
    let bytes = f.commit(&p, &attrs, &sig, Some(&entry), None);
    assert_refused(
        &repo,
        &bytes,
        "no-set",
        &["no signed entry timestamp (SET)"],
    );

    // Logged, SET removed, a verified timestamp over this signature: the
    // inclusion is proven and the TSA dates it, as a Rekor v2 entry would
    // be; good, and the report says where the time came from.
    let ts = f.tsa.timestamp(&sig, &f.root).unwrap();
    let bytes = f.commit(&p, &attrs, &sig, Some(&entry), Some(&ts.token));
    let (g, s, g_ok, s_ok) = verify_both(&repo, &bytes, "no-set+tsa");
    assert!(g_ok && g.contains("GOODSIG"), "{g}");
    assert!(
        g.contains("(timestamp authority time; log entry embedded)"),
        "{g}"
    );
    assert!(g.contains("no signed entry timestamp"), "{g}");
    assert!(s_ok, "{s}");

    // A timestamp over another signature does not date this one.
    let p2 = Forger::payload("other");
    let (_, sig2) = f.sign(&p2);
    let other_ts = f.tsa.timestamp(&sig2, &f.root).unwrap();
    let bytes = f.commit(&p, &attrs, &sig, Some(&entry), Some(&other_ts.token));
    assert_refused(
        &repo,
        &bytes,
        "foreign-tsa",
        &["RFC 3161 timestamp does not verify"],
    );

    // The hook refuses the unlogged signature too.
    let server = hook_server(&f);
    let repo = f.repo();
    let p = Forger::payload("pushed unlogged");
    let (attrs, sig) = f.sign(&p);
    let forged = f.self_rooted(&attrs, &sig);
    let file = repo.dir.path().join("push.commit");
    std::fs::write(&file, f.commit(&p, &attrs, &sig, Some(&forged), None)).unwrap();
    let id = repo.git_ok(&[
        "hash-object",
        "-w",
        "-t",
        "commit",
        &file.display().to_string(),
    ]);
    let o = repo.git(&[
        "push",
        &server.path.display().to_string(),
        &format!("{id}:refs/heads/main"),
    ]);
    let out = text(&o);
    assert!(
        !o.status.success(),
        "the hook accepted an unlogged signature:\n{out}"
    );
    assert!(out.contains("no signed checkpoint"), "{out}");
    assert!(out.contains(&id[..12]), "{out}");
}

struct HookServer {
    _dir: TempDir,
    path: std::path::PathBuf,
}

/// A bare repository whose pre-receive hook lets only alice sign main.
fn hook_server(f: &Forger) -> HookServer {
    let dir = TempDir::new("forgery-server");
    let path = dir.path().join("server.git");
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    git(&["init", "-q", "--bare", "-b", "main", "server.git"]);
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "version = 1\n[signers.alice]\nidentity = \"{ALICE}\"\nissuer = \"{}\"\n\n\
             [[rules]]\nrefs = [\"refs/heads/*\"]\nsigners = [\"alice\"]\n",
            f.tb.var("GITSIGN_OIDC_ISSUER")
        ),
    )
    .unwrap();
    let p = path.display().to_string();
    git(&[
        "-C",
        &p,
        "config",
        "gitsign.policy",
        &policy.display().to_string(),
    ]);
    git(&[
        "-C",
        &p,
        "config",
        "gitsign.trustedRoot",
        f.tb.var("GITSIGN_TRUSTED_ROOT"),
    ]);
    git(&[
        "-C",
        &p,
        "config",
        "gitsign.rekor",
        f.tb.var("GITSIGN_REKOR_URL"),
    ]);
    let hook = path.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\nexec '{}' hook pre-receive\n",
            gitsign_bin().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    HookServer { _dir: dir, path }
}

#[test]
fn the_signer_refuses_what_the_log_did_not_sign() {
    let tb = Testbed::start();
    let token = tb.token("testbed-user@example.com", 900);
    let env = || {
        vec![
            ("GITSIGN_TOKEN_PROVIDER", "environment".to_string()),
            ("SIGSTORE_ID_TOKEN", token.clone()),
        ]
    };
    let cases: &[(&str, &[&str])] = &[
        (
            "no-set",
            &["Rekor returned no signed entry timestamp (SET)"],
        ),
        (
            "no-checkpoint",
            &["no signed checkpoint", "rekorCheckpoint"],
        ),
        ("self-rooted", &["no signed checkpoint"]),
        (
            "checkpoint-origin",
            &["origin \"rekor.example.org - 1\"", "rekorCheckpointOrigin"],
        ),
        (
            "checkpoint-name",
            &["not signed by the key of", "rekorCheckpointSig"],
        ),
        (
            "checkpoint-size",
            &[
                "but the log's signed checkpoint is for size",
                "rekorCheckpoint",
            ],
        ),
    ];
    for (fault, words) in cases {
        tb.clear_faults();
        tb.fault("rekor", fault, None, None);
        let mut w = vec!["the entry Rekor returned"];
        if *fault == "no-set" {
            w.clear();
        }
        w.extend_from_slice(words);
        expect_sign_failure(&tb, fault, &env(), &w);
    }
    tb.clear_faults();
    let (code, _, stderr) = common::sign_direct(&tb, &env());
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn online_verification_refuses_what_the_log_did_not_sign() {
    let tb = Testbed::start();
    let mut repo = Repo::new("online-forgery");
    repo.env.extend(tb.gitsign_env());
    repo.env
        .push(("GITSIGN_TOKEN_PROVIDER".into(), "environment".into()));
    repo.env
        .push(("SIGSTORE_ID_TOKEN".into(), tb.token(ALICE, 1800)));
    repo.env.push(("GIT_COMMITTER_EMAIL".into(), ALICE.into()));
    repo.git_ok(&["config", "gitsign.rekorMode", "online"]);
    repo.git_ok(&["config", "gitsign.certificateIdentity", ALICE]);
    repo.git_ok(&[
        "config",
        "gitsign.certificateOidcIssuer",
        tb.var("GITSIGN_OIDC_ISSUER"),
    ]);
    std::fs::write(repo.path().join("f"), "x\n").unwrap();
    repo.git_ok(&["add", "f"]);
    let o = repo.git(&["commit", "-q", "-S", "-m", "online"]);
    assert!(o.status.success(), "{}", text(&o));
    let good = repo.git(&["verify-commit", "--raw", "HEAD"]);
    assert!(good.status.success(), "{}", text(&good));

    let cases: &[(&str, &str)] = &[
        ("no-set", "no signed entry timestamp (SET)"),
        ("no-checkpoint", "no signed checkpoint"),
        ("self-rooted", "no signed checkpoint"),
        ("checkpoint-origin", "rekorCheckpointOrigin"),
        ("checkpoint-name", "rekorCheckpointSig"),
        (
            "checkpoint-size",
            "but the log's signed checkpoint is for size",
        ),
        ("wrong-log-key", "unknown log"),
    ];
    for (fault, reason) in cases {
        tb.clear_faults();
        tb.fault("rekor", fault, None, None);
        let o = repo.git(&["verify-commit", "--raw", "HEAD"]);
        let out = format!(
            "{}{}",
            text(&o),
            text(&repo.git(&["verify-commit", "HEAD"]))
        );
        assert!(!o.status.success(), "{fault}: accepted:\n{out}");
        assert!(!out.contains("GOODSIG"), "{fault}: {out}");
        assert!(out.contains(reason), "{fault}: no {reason:?} in:\n{out}");
        let s = repo.gitsign(&["verify", "HEAD"]);
        assert!(!s.status.success(), "{fault}: {}", text(&s));
        assert!(text(&s).contains(reason), "{fault}: {}", text(&s));
    }
    tb.clear_faults();
    assert!(repo.git(&["verify-commit", "HEAD"]).status.success());
}

/// The same ECDSA signature with s replaced by n - s: also valid, and a new
/// body Rekor accepts, so whoever holds the key (even after the
/// certificate expired) can log the same digest again under the same
/// certificate.
fn malleated(der: &[u8]) -> Vec<u8> {
    let sig = p256::ecdsa::Signature::from_der(der).unwrap();
    let (r, s) = sig.split_scalars();
    let flipped = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
    flipped.to_der().as_bytes().to_vec()
}

#[test]
fn strangers_and_late_entries_cannot_deny_an_online_signature() {
    use gitsign::config::RekorMode;
    let f = Forger::with_cert_ttl(6);
    let repo = f.repo();
    repo.git_ok(&["config", "gitsign.rekorMode", "online"]);
    let payload = Forger::payload("online, then flooded");
    let now = gitsign::encoding::time::now();
    let signed =
        sign::sign_payload(&payload, &f.cred, &f.rekor, &f.root, RekorMode::Online, now).unwrap();
    let bytes = gitobj::join_commit(&payload, signed.armored.as_bytes(), HashAlgo::Sha1);
    let (g, _, g_ok, _) = verify_both(&repo, &bytes, "before");
    assert!(g_ok && g.contains("GOODSIG"), "{g}");
    let object_id = signed.object_id.clone().unwrap();
    let digest = gitsign::pki::crypto::sha256(object_id.as_bytes());

    // A hundred strangers log the same digest under keys of their own.
    for _ in 0..100 {
        let key = sign::EphemeralKey::generate().unwrap();
        let sig = key.sign(object_id.as_bytes()).unwrap();
        f.rekor
            .create_hashedrekord(&digest, &sig, &key.public_key_pem())
            .unwrap();
    }

    // After the certificate expired, the key holder logs the same digest
    // again under the same certificate (a malleated signature is a new
    // body), and under the bare public key.
    let cert = f.cred.leaf();
    while gitsign::encoding::time::now() <= cert.not_after {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let pem = verify::certificate_pem(cert);
    let original = tlog::parse_hashedrekord(&signed.entry.body).unwrap();
    let late_sig = malleated(&original.signature);
    let late = f
        .rekor
        .create_hashedrekord(&digest, &late_sig, &pem)
        .unwrap();
    assert!(late.integrated_time > cert.not_after);
    let key_pem = gitsign::encoding::pem::encode("PUBLIC KEY", cert.spki());
    f.rekor
        .create_hashedrekord(&digest, &original.signature, &key_pem)
        .unwrap();

    // Rekor from now on ignores `and` in searches (as a misbehaving or
    // hostile one could): the search by digest AND certificate answers
    // every entry over the digest, newest first, the strangers' 100 before
    // the signer's. What keeps the signature good is then the verifier's
    // own filtering of the candidates, not Rekor's.
    f.tb.fault("rekor", "search-union", None, None);

    // The signature still verifies, through git, gitsign verify and the
    // hook, on the entry logged in time.
    let (g, s, g_ok, s_ok) = verify_both(&repo, &bytes, "after");
    assert!(
        g_ok && g.contains("GOODSIG") && g.contains("TRUST_FULLY"),
        "{g}"
    );
    assert!(g.contains("log entry found online"), "{g}");
    assert!(s_ok, "{s}");

    let server = hook_server(&f);
    // A clone without the shallow marks verify_both left.
    let repo = f.repo();
    let file = repo.dir.path().join("online.commit");
    std::fs::write(&file, &bytes).unwrap();
    let id = repo.git_ok(&[
        "hash-object",
        "-w",
        "-t",
        "commit",
        &file.display().to_string(),
    ]);
    let o = repo.git(&[
        "push",
        &server.path.display().to_string(),
        &format!("{id}:refs/heads/main"),
    ]);
    assert!(
        o.status.success(),
        "the hook refused a good signature:\n{}",
        text(&o)
    );
}

#[test]
fn an_entry_the_log_signed_after_the_certificate_expired_is_refused() {
    let f = Forger::with_cert_ttl(4);
    let repo = f.repo();
    let p = Forger::payload("signed in time, logged too late");
    let (attrs, sig) = f.sign(&p);
    while gitsign::encoding::time::now() <= f.cred.leaf().not_after {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    // Rekor logs it (it checks the signature, not the certificate's life)
    // and signs the late time in the SET.
    let late = f.logged(&attrs, &sig);
    assert!(late.integrated_time > f.cred.leaf().not_after);
    let bytes = f.commit(&p, &attrs, &sig, Some(&late), None);
    assert_refused(
        &repo,
        &bytes,
        "late",
        &[
            "the transparency log integrated the signature at",
            "outside the certificate's validity",
        ],
    );
}

/// A timestamp must date the signature inside its certificate's life,
/// bounds included (RFC 5280's validity is inclusive): genuine tokens of
/// the trusted TSA dated the certificate's first and last second verify,
/// one second before or after is refused, also for a token taken for real
/// after the certificate expired (the key could sign anything by then, as
/// far as the certificate vouches).
#[test]
fn a_timestamp_outside_the_certificate_is_refused_its_bounds_included() {
    let f = Forger::with_cert_ttl(4);
    let repo = f.repo();
    let p = Forger::payload("logged in time, timestamped at the bounds");
    let (attrs, sig) = f.sign(&p);
    let entry = f.logged(&attrs, &sig);
    let (nb, na) = (f.cred.leaf().not_before, f.cred.leaf().not_after);
    let dated = |at: i64| {
        f.tb.fault("tsa", "gen-time", Some(1), Some(at.into()));
        let ts = f.tsa.timestamp(&sig, &f.root).unwrap();
        assert_eq!(ts.verified.gen_time, at);
        f.commit(&p, &attrs, &sig, Some(&entry), Some(&ts.token))
    };
    for (at, tag) in [(nb, "tsa-first-second"), (na, "tsa-last-second")] {
        let (g, s, g_ok, s_ok) = verify_both(&repo, &dated(at), tag);
        assert!(g_ok && g.contains("GOODSIG"), "{tag}: {g}");
        assert!(s_ok, "{tag}: {s}");
    }
    for (at, tag) in [(nb - 1, "tsa-before"), (na + 1, "tsa-after")] {
        assert_refused(
            &repo,
            &dated(at),
            tag,
            &["RFC 3161 timestamp", "outside the certificate's validity"],
        );
    }
    while gitsign::encoding::time::now() <= na {
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    let late = f.tsa.timestamp(&sig, &f.root).unwrap();
    assert!(late.verified.gen_time > na);
    let bytes = f.commit(&p, &attrs, &sig, Some(&entry), Some(&late.token));
    assert_refused(
        &repo,
        &bytes,
        "tsa-late",
        &["RFC 3161 timestamp", "outside the certificate's validity"],
    );
}

/// With the log check skipped (`gitsign.verifyTlog = skip`) and no
/// timestamp, the signer's own clock dates the signature: a signing time up
/// to a minute before the certificate (clock skew) counts as its first
/// second; earlier, or after the certificate expired, is refused.
#[test]
fn without_the_log_the_signing_time_must_lie_in_the_certificate() {
    let f = Forger::new();
    let repo = f.repo();
    repo.git_ok(&["config", "gitsign.verifyTlog", "skip"]);
    let (nb, na) = (f.cred.leaf().not_before, f.cred.leaf().not_after);
    let signed_at = |st: i64| {
        let p = Forger::payload(&format!("signed at {st}"));
        let attrs = cms::signed_attributes(&p, st).unwrap();
        let sig = f.cred.sign(&attrs).unwrap();
        f.commit(&p, &attrs, &sig, None, None)
    };
    let skew = gitsign::verify::SIGNING_TIME_SKEW;
    for (st, tag) in [(nb - skew, "skewed"), (nb, "first"), (na, "last")] {
        let (g, s, g_ok, s_ok) = verify_both(&repo, &signed_at(st), tag);
        assert!(g_ok && g.contains("GOODSIG"), "{tag}: {g}");
        assert!(s_ok, "{tag}: {s}");
    }
    for (st, tag) in [
        (nb - skew - 1, "too-early"),
        (nb - 3600, "an-hour-early"),
        (na + 1, "after"),
    ] {
        assert_refused(&repo, &signed_at(st), tag, &["not valid at"]);
    }
}

/// The time the log signed (the SET's integratedTime) must lie inside the
/// certificate's validity, bounds included: genuine entries dated the
/// certificate's first and last second verify, one second outside is
/// refused.
#[test]
fn a_log_time_outside_the_certificate_is_refused_its_bounds_included() {
    let f = Forger::new();
    let repo = f.repo();
    let (nb, na) = (f.cred.leaf().not_before, f.cred.leaf().not_after);
    let logged_at = |at: i64| {
        let p = Forger::payload(&format!("logged at {at}"));
        let (attrs, sig) = f.sign(&p);
        f.tb.fault("rekor", "integrated-time", Some(1), Some(at.into()));
        let entry = f.logged(&attrs, &sig);
        assert_eq!(entry.integrated_time, at);
        f.commit(&p, &attrs, &sig, Some(&entry), None)
    };
    for (at, tag) in [(nb, "log-first-second"), (na, "log-last-second")] {
        let (g, s, g_ok, s_ok) = verify_both(&repo, &logged_at(at), tag);
        assert!(g_ok && g.contains("GOODSIG"), "{tag}: {g}");
        assert!(s_ok, "{tag}: {s}");
    }
    for (at, tag) in [(nb - 1, "log-before"), (na + 1, "log-after")] {
        assert_refused(
            &repo,
            &logged_at(at),
            tag,
            &[
                "the transparency log integrated the signature at",
                "outside the certificate's validity",
            ],
        );
    }
}

/// A Rekor that answers every search with every entry it holds (broken or
/// hostile): an online-mode signature it holds no entry for is refused.
/// The refusal gives the first eight reasons and how many more, and how
/// many listed entries gitsign did not fetch (it fetches 64).
#[test]
fn a_rekor_listing_everything_is_refused_naming_what_was_not_examined() {
    let f = Forger::new();
    let repo = f.repo();
    repo.git_ok(&["config", "gitsign.rekorMode", "online"]);
    let log = |range: std::ops::Range<usize>| {
        for i in range {
            let p = Forger::payload(&format!("logged {i}"));
            let (attrs, sig) = f.sign(&p);
            f.logged(&attrs, &sig);
        }
    };
    let p = Forger::payload("never logged");
    let (attrs, sig) = f.sign(&p);
    let bytes = f.commit(&p, &attrs, &sig, None, None);
    let refusals = |tag: &str| {
        f.tb.fault("rekor", "search-all", None, None);
        let (g, s, g_ok, s_ok) = verify_both(&repo, &bytes, tag);
        f.tb.clear_faults();
        assert!(!g_ok && !s_ok, "{tag}: {g}\n{s}");
        for out in [&g, &s] {
            assert!(out.contains("no transparency log entry found"), "{out}");
        }
        s
    };
    let reason = "an entry the search returned is not over this object by this certificate";
    // Eight entries, all the signer's over other objects: eight reasons.
    log(0..8);
    let s = refusals("eight");
    assert_eq!(s.matches(reason).count(), 8, "{s}");
    assert!(!s.contains(" more") && !s.contains("not examined"), "{s}");
    // Seventy: 64 fetched, eight reasons and 56 more, six not examined.
    log(8..70);
    let s = refusals("seventy");
    assert_eq!(s.matches(reason).count(), 8, "{s}");
    assert!(s.contains("; 56 more)"), "{s}");
    assert!(
        s.contains("; 6 further entries Rekor listed were not examined"),
        "{s}"
    );
}

/// An online-mode entry must name the signing certificate itself: entries
/// over the object signed by the same key but logged under another
/// certificate Fulcio issued for that key, or under the bare public key
/// (which anyone who ever held the key could log), do not vouch for it.
#[test]
fn an_online_entry_must_name_the_signing_certificate() {
    let f = Forger::new();
    let repo = f.repo();
    repo.git_ok(&["config", "gitsign.rekorMode", "online"]);
    let http = Http::new(std::time::Duration::from_secs(20)).unwrap();
    let fulcio = FulcioClient::new(f.tb.var("GITSIGN_FULCIO_URL"), http);
    let token = f.tb.token(ALICE, 600);
    let key = sign::EphemeralKey::generate().unwrap();
    let mut chains = (0..2).map(|_| {
        let proof = key.sign(ALICE.as_bytes()).unwrap();
        fulcio
            .signing_cert(&token, &key.public_key_pem(), &proof)
            .unwrap()
            .chain
    });
    let (chain, other_chain) = (chains.next().unwrap(), chains.next().unwrap());
    assert_ne!(chain[0].der(), other_chain[0].der());
    let bare_pem = gitsign::encoding::pem::encode("PUBLIC KEY", key.spki());
    let cred = Credential {
        key: sign::KeyHolder::Local(key),
        chain,
    };
    let p = Forger::payload("logged under another certificate of its key");
    let attrs = cms::signed_attributes(&p, gitsign::encoding::time::now()).unwrap();
    let sig = cred.sign(&attrs).unwrap();
    let der = cms::build_signed_data(&attrs, &sig, cred.leaf(), &[]).unwrap();
    let bytes = gitobj::join_commit(&p, cms::armor(&der).as_bytes(), HashAlgo::Sha1);
    let id = gitobj::object_id(ObjectKind::Commit, &bytes, HashAlgo::Sha1);
    let digest = gitsign::pki::crypto::sha256(id.as_bytes());
    let entry_sig = cred.sign(id.as_bytes()).unwrap();
    for pem in [verify::certificate_pem(&other_chain[0]), bare_pem] {
        f.rekor
            .create_hashedrekord(&digest, &entry_sig, &pem)
            .unwrap();
    }
    // A search by digest and certificate does not list them; a Rekor that
    // lists everything hands them over, and they are refused.
    assert_refused(&repo, &bytes, "other-certificate", &["has no valid entry"]);
    f.tb.fault("rekor", "search-all", None, None);
    let (g, s, g_ok, s_ok) = verify_both(&repo, &bytes, "other-certificate-listed");
    f.tb.clear_faults();
    assert!(!g_ok && !s_ok, "{g}\n{s}");
    let reason = "an entry the search returned is not over this object by this certificate";
    assert_eq!(s.matches(reason).count(), 2, "{s}");
    assert!(g.contains(reason), "{g}");
    // Under the signing certificate itself, it verifies.
    f.rekor
        .create_hashedrekord(&digest, &entry_sig, &verify::certificate_pem(cred.leaf()))
        .unwrap();
    let (g, s, g_ok, s_ok) = verify_both(&repo, &bytes, "own-certificate");
    assert!(g_ok && g.contains("GOODSIG"), "{g}");
    assert!(s_ok, "{s}");
}
