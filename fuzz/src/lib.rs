//! The bodies of gitsign's fuzz targets, one function per target, shared
//! by the libFuzzer binaries (`fuzz_targets/*.rs`) and by the replay
//! binary that times every corpus input without instrumentation
//! (`src/bin/replay.rs`).
//!
//! Each function takes arbitrary bytes and drives one parser of untrusted
//! input through the public entry points a verifier uses, then the
//! accessors that read what it parsed. A panic, a crash, an input that
//! takes over 50 ms or memory that grows with no bound is a bug.
//!
//! Inputs that carry two parts (payload and signature, artifact digest and
//! bundle) are framed by [`split2`]: a little-endian u16 length, the first
//! part, then the second. The seed generator writes the same framing.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use gitsign::cache::proto;
use gitsign::encoding::asn1;
use gitsign::encoding::oid;
use gitsign::encoding::pem;
use gitsign::git::gitobj::{self, HashAlgo, ObjectKind};
use gitsign::pki::claims::Claims;
use gitsign::pki::cms::{self, SignedData};
use gitsign::pki::sct;
use gitsign::pki::tsa;
use gitsign::pki::x509::{self, Certificate};
use gitsign::policy::file::PolicyFile;
use gitsign::sigstore::bundle::{self, Artifact};
use gitsign::sigstore::signing_config::SigningConfig;
use gitsign::sigstore::tlog::{self, LogEntry};
use gitsign::sigstore::trust::TrustedRoot;
use gitsign::sigstore::tuf::metadata::{self as tufmeta, Envelope, Kind};
use gitsign::verify::{self, Context, MissingTlog, ObjectInfo};

pub mod replay;
pub mod seeds;

/// Runs before libFuzzer starts. Two modes that do not fuzz, chosen by
/// the environment (used by `fuzz/run`), each exiting when done:
/// `GITSIGN_FUZZ_SEEDS=DIR` writes the seed corpora under `DIR/<target>/`;
/// `GITSIGN_FUZZ_REPLAY=PATH[:PATH...]` replays those files or directories
/// through this target, timing each input against
/// `GITSIGN_FUZZ_LIMIT_MS` (50), and exits 1 on a slow input or a panic.
pub fn init(target: &str) {
    if let Some(out) = std::env::var_os("GITSIGN_FUZZ_SEEDS") {
        seeds::write(std::path::Path::new(&out));
        std::process::exit(0);
    }
    if let Some(paths) = std::env::var_os("GITSIGN_FUZZ_EXPLAIN") {
        // How far `verify` gets with each input: its verdict, one a line.
        for p in std::env::split_paths(&paths) {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&p)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_else(|_| vec![p.clone()]);
            files.sort();
            for f in files {
                let data = std::fs::read(&f).unwrap_or_default();
                println!("{}\t{}", f.display(), explain_verify(&data));
            }
        }
        std::process::exit(0);
    }
    if let Some(paths) = std::env::var_os("GITSIGN_FUZZ_REPLAY") {
        let paths: Vec<PathBuf> = std::env::split_paths(&paths).collect();
        let ms = std::env::var("GITSIGN_FUZZ_LIMIT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50);
        let run = TARGETS
            .iter()
            .find(|(n, _)| *n == target)
            .map(|(_, f)| *f)
            .expect("a known target");
        // libfuzzer-sys's hook aborts on a panic; the replay catches and
        // counts them instead.
        std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
        let ok = replay::replay(target, run, &paths, Duration::from_millis(ms));
        std::process::exit(if ok { 0 } else { 1 });
    }
}

/// All targets, by name (the replay binary and the run script use these).
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("verify", verify),
    ("cms", cms),
    ("x509", x509),
    ("sct", sct),
    ("tlog_protobuf", tlog_protobuf),
    ("tlog_json", tlog_json),
    ("bundle", bundle),
    ("tsa", tsa),
    ("trust", trust),
    ("tuf", tuf),
    ("cache_proto", cache_proto),
    ("text", text),
];

/// The embedded public-good trusted root, parsed once.
pub fn root() -> &'static TrustedRoot {
    static ROOT: OnceLock<TrustedRoot> = OnceLock::new();
    ROOT.get_or_init(TrustedRoot::public_good)
}

/// Splits `[len: u16 LE][first: len bytes][second]`; a short input gives
/// everything to `second`.
pub fn split2(data: &[u8]) -> (&[u8], &[u8]) {
    if data.len() < 2 {
        return (&[], data);
    }
    let n = usize::from(u16::from_le_bytes([data[0], data[1]]));
    let rest = &data[2..];
    if n > rest.len() {
        return (&[], rest);
    }
    rest.split_at(n)
}

/// Frames two parts as [`split2`] reads them (for the seed generator).
pub fn join2(first: &[u8], second: &[u8]) -> Vec<u8> {
    let n = u16::try_from(first.len()).expect("first part under 64 KiB");
    let mut out = n.to_le_bytes().to_vec();
    out.extend_from_slice(first);
    out.extend_from_slice(second);
    out
}

/// `verify::verify` over (payload, signature) with the embedded public-good
/// root and no network: CMS, X.509, the embedded log entry (protobuf,
/// checkpoint, inclusion proof, SET), the SCT list and an RFC 3161 token.
pub fn verify(data: &[u8]) {
    let (payload, signature) = split2(data);
    let ctx = Context {
        root: root(),
        require_sct: true,
        rekor: None,
        missing_tlog: MissingTlog::Skip,
        cache: None,
    };
    let object = ObjectInfo::from_payload(payload);
    if let Ok(v) = verify::verify(payload, signature, object, &ctx) {
        let _ = format!("{v:?}");
    }
    // What the online mode would search for (no network here).
    let _ = verify::candidate_object_ids(payload, signature, object);
}

/// The verdict [`verify`] reaches for `data`, as one line.
pub fn explain_verify(data: &[u8]) -> String {
    let (payload, signature) = split2(data);
    let ctx = Context {
        root: root(),
        require_sct: true,
        rekor: None,
        missing_tlog: MissingTlog::Skip,
        cache: None,
    };
    match verify::verify(payload, signature, ObjectInfo::from_payload(payload), &ctx) {
        Ok(v) => format!("VERIFIED {:?}", v.tlog),
        Err(f) => format!("{:?}: {}", f.kind, f.message.replace('\n', " ")),
    }
}

/// CMS: `cms::unarmor`, `SignedData::from_der` (BER normalisation
/// included), the signer-info accessors, and the embedded log entry and
/// timestamp token as the verifier extracts them.
pub fn cms(data: &[u8]) {
    let der = match cms::unarmor(data) {
        Ok(d) => d,
        Err(_) => return,
    };
    let _ = asn1::ber_to_der(&der);
    let _ = SignedData::from_der_encapsulated(&der, oid::TST_INFO);
    let Ok(sd) = SignedData::from_der(&der) else {
        return;
    };
    let si = &sd.signer;
    let _ = si.message_digest();
    let _ = si.check_content_type();
    let _ = si.content_type();
    let _ = si.signing_time();
    let _ = si.signed_value(oid::SIGNING_TIME, "signingTime");
    let _ = si.unsigned_value(oid::REKOR_TLOG_ENTRY, "tlog entry");
    let _ = tsa::embedded_token(si);
    if let Some(cert) = sd.signer_certificate() {
        let _ = verify::embedded_entry(&sd, cert);
        certificate_accessors(cert);
    }
    let _ = format!("{sd:?}");
}

/// Everything a verifier reads from a certificate.
fn certificate_accessors(cert: &Certificate) {
    let _ = cert.public_key();
    let _ = cert.fingerprint();
    let _ = x509::name_to_string(cert.issuer());
    let _ = x509::name_to_string(cert.subject());
    for (id, critical, value) in cert.extensions() {
        let _ = (asn1::oid_to_string(id), critical, value.len());
    }
    let _ = cert.basic_constraints();
    let _ = cert.key_usage();
    let _ = cert.ext_key_usage();
    let _ = cert.subject_key_id();
    let _ = cert.authority_key_id();
    if let Ok(names) = cert.subject_alt_names() {
        for n in names {
            let _ = n.identity();
        }
    }
    let _ = cert.is_self_issued();
    let _ = cert.is_critical(oid::EXT_KEY_USAGE);
    let _ = cert.tbs_without_extensions(&[oid::CT_SCT_LIST]);
    let _ = Claims::from_certificate(cert);
    let _ = sct::embedded_scts(cert);
    let _ = verify::certificate_pem(cert);
}

/// X.509: `Certificate::from_der`, every accessor a verifier calls,
/// `Claims::from_certificate`, the embedded SCT list, and issuers and SCTs
/// against the public-good root.
pub fn x509(data: &[u8]) {
    let _ = x509::name_to_string(data);
    let Ok(cert) = Certificate::from_der(data.to_vec()) else {
        return;
    };
    certificate_accessors(&cert);
    let _ = gitsign::pki::chain::find_issuers(&cert, root());
}

/// SCTs: `sct::parse_sct` over the input, and the input as the content of
/// a certificate's SCT list extension (`sct::embedded_scts`), checked
/// against the public-good CT logs as verification checks it.
pub fn sct(data: &[u8]) {
    if let Some(s) = sct::parse_sct(data) {
        let _ = sct::precert_signed_data(&s, b"spki", b"tbs");
    }
    let der = cert_with_sct_list(data);
    let Ok(cert) = Certificate::from_der(der) else {
        return;
    };
    if let Ok(scts) = sct::embedded_scts(&cert) {
        for s in &scts {
            let _ = sct::precert_signed_data(s, cert.spki(), cert.tbs());
        }
    }
    // An issuer: the leaf itself (its key is what the SCT's issuer key
    // hash is computed over; nothing here verifies).
    let _ = sct::verify_embedded(&cert, &cert, root());
}

/// A syntactically valid certificate whose only extension is an SCT list
/// with `list` as its TLS-encoded content.
pub fn cert_with_sct_list(list: &[u8]) -> Vec<u8> {
    use asn1::tag;
    let alg = asn1::encode(tag::SEQUENCE, &asn1::encode(tag::OID, oid::ECDSA_SHA256));
    let name = asn1::encode(
        tag::SEQUENCE,
        &asn1::encode(
            tag::SET,
            &asn1::encode_parts(
                tag::SEQUENCE,
                &[
                    &asn1::encode(tag::OID, oid::CN),
                    &asn1::encode(0x0c, b"fuzz"),
                ],
            ),
        ),
    );
    let validity = asn1::encode_parts(
        tag::SEQUENCE,
        &[
            &asn1::encode(tag::UTC_TIME, b"240101000000Z"),
            &asn1::encode(tag::UTC_TIME, b"240101001000Z"),
        ],
    );
    // A P-256 point (the generator): any well-formed key will do.
    let mut point = vec![0x04];
    point.extend_from_slice(&P256_G);
    let mut bits = vec![0u8];
    bits.extend_from_slice(&point);
    let spki = asn1::encode_parts(
        tag::SEQUENCE,
        &[
            &asn1::encode_parts(
                tag::SEQUENCE,
                &[
                    &asn1::encode(tag::OID, oid::EC_PUBLIC_KEY),
                    &asn1::encode(tag::OID, oid::P256),
                ],
            ),
            &asn1::encode(tag::BIT_STRING, &bits),
        ],
    );
    let ext = asn1::encode_parts(
        tag::SEQUENCE,
        &[
            &asn1::encode(tag::OID, oid::CT_SCT_LIST),
            &asn1::encode(tag::OCTET_STRING, &asn1::encode(tag::OCTET_STRING, list)),
        ],
    );
    let exts = asn1::encode(tag::context(3, true), &asn1::encode(tag::SEQUENCE, &ext));
    let tbs = asn1::encode_parts(
        tag::SEQUENCE,
        &[
            &asn1::encode(tag::context(0, true), &asn1::encode(tag::INTEGER, &[2])),
            &asn1::encode(tag::INTEGER, &[1]),
            &alg,
            &name,
            &validity,
            &name,
            &spki,
            &exts,
        ],
    );
    asn1::encode_parts(
        tag::SEQUENCE,
        &[&tbs, &alg, &asn1::encode(tag::BIT_STRING, &[0, 0x30, 0x00])],
    )
}

const P256_G: [u8; 64] = [
    0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
    0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
    0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
    0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
];

/// Rekor protobuf entries: `LogEntry::from_protobuf`, then the whole
/// entry check against the public-good root (body, SET, inclusion proof,
/// checkpoint), and the hashedrekord body it carries.
pub fn tlog_protobuf(data: &[u8]) {
    let Ok(entry) = LogEntry::from_protobuf(data) else {
        return;
    };
    log_entry(&entry);
}

fn log_entry(entry: &LogEntry) {
    let _ = entry.to_protobuf(true);
    let _ = tlog::parse_hashedrekord(&entry.body);
    if let Some(p) = &entry.proof {
        if let Some(c) = &p.checkpoint {
            let _ = tlog::parse_checkpoint(c);
        }
    }
    if let Ok(v) = tlog::verify_entry(entry, root()) {
        let _ = v.describe();
        let _ = v.time();
        let _ = v.log_index();
        let _ = v.check_log_valid_at(1_700_000_000);
    }
}

/// Rekor JSON: `LogEntry::from_rekor_json` (and each entry as above), and
/// the input as a hashedrekord body (`tlog::parse_hashedrekord`).
pub fn tlog_json(data: &[u8]) {
    let _ = tlog::parse_hashedrekord(data);
    if let Ok(entries) = LogEntry::from_rekor_json(data) {
        for (_, e) in &entries {
            log_entry(e);
        }
    }
}

/// Bundles: `bundle::verify_bundle` with the embedded root, over an
/// artifact given by its digest (the first part) or, when the first part
/// is not 32 bytes, by its bytes.
pub fn bundle(data: &[u8]) {
    let (artifact, json) = split2(data);
    let artifact = match <[u8; 32]>::try_from(artifact) {
        Ok(d) => Artifact::Digest(d),
        Err(_) => Artifact::Bytes(artifact.to_vec()),
    };
    let opts = bundle::Options {
        root: root(),
        require_sct: true,
        key: None,
    };
    let _ = bundle::verify_bundle(json, &artifact, &opts);
}

/// RFC 3161: the input as a TimeStampResp (`tsa::parse_response`), as a
/// TimeStampToken (`tsa::Token::from_der`, then `tsa::verify_token` against
/// the public-good TSAs), and as a TSTInfo (`tsa::parse_tst_info`).
pub fn tsa(data: &[u8]) {
    if let Ok(token) = tsa::parse_response(data) {
        token_checks(&token);
    }
    token_checks(data);
    let _ = tsa::parse_tst_info(data);
}

fn token_checks(der: &[u8]) {
    if let Ok(t) = tsa::Token::from_der(der) {
        // Over the imprint it names, so verification goes past it.
        let _ = tsa::verify_token(der, b"", None, root());
        let _ = format!("{:?}", t.info);
        let _ = format!(
            "{:?}",
            tsa::verify_token(der, &t.info.hashed_message, Some(b"\x01"), root())
        );
    }
}

/// Trusted roots: `TrustedRoot::from_json`.
pub fn trust(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(root) = TrustedRoot::from_json(text, "fuzz") {
        for ca in &root.certificate_authorities {
            let _ = ca.check_chain();
        }
        for log in &root.tlogs {
            let _ = root.tlog(&log.log_id);
        }
    }
}

/// TUF metadata as the TUF client reads it from a mirror: the envelope
/// and its canonical form, each role's header and body, a root checking
/// its own signatures (the step of every root rotation) and the other
/// roles' signatures under it, target-name globs, and the signing config
/// the TUF repository delivers.
pub fn tuf(data: &[u8]) {
    let _ = SigningConfig::from_json(data, "fuzz");
    if let Ok(env) = Envelope::parse(data, "fuzz") {
        for kind in [Kind::Root, Kind::Timestamp, Kind::Snapshot, Kind::Targets] {
            let _ = env.header(kind, "fuzz");
        }
        if let Ok(root) = tufmeta::Root::from_envelope(&env, "fuzz") {
            for kind in [Kind::Root, Kind::Timestamp, Kind::Snapshot, Kind::Targets] {
                let _ = root.verify(kind, &env, "fuzz");
                let _ = root.keyids(kind);
            }
        }
        let _ = tufmeta::Timestamp::from_envelope(&env, "fuzz");
        let _ = tufmeta::Snapshot::from_envelope(&env, "fuzz");
        if let Ok(t) = tufmeta::Targets::from_envelope(&env, "fuzz") {
            let _ = t.delegated("trusted_root.json");
        }
    }
    let (pattern, name) = split2(data);
    if let (Ok(p), Ok(n)) = (std::str::from_utf8(pattern), std::str::from_utf8(name)) {
        let _ = tufmeta::glob_match(p, n);
    }
}

/// Credential-cache protocol frames as the daemon and the client decode
/// them: the length header, requests, responses, version-mismatch text.
pub fn cache_proto(data: &[u8]) {
    if let Ok(h) = <[u8; 4]>::try_from(data.get(..4).unwrap_or_default()) {
        let _ = proto::frame_len(h);
    }
    if let Ok(r) = proto::decode_request(data) {
        let _ = proto::encode(&r);
    }
    if let Ok(r) = proto::decode_response(data) {
        let _ = proto::encode(&r);
    }
    let _ = proto::parse_version_mismatch(&String::from_utf8_lossy(data));
}

/// Text formats, the first byte choosing the parser: checkpoints
/// (`tlog::parse_checkpoint`), policy files (`PolicyFile::parse`), PEM
/// (`pem::decode_all`, `x509::certificates_from_pem`),
/// `config::parse_config_parameters`, git objects (`gitobj::split` as
/// commit and tag with both hash algorithms, `gitobj::subject`).
pub fn text(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let s = String::from_utf8_lossy(rest);
    match which % 5 {
        0 => {
            let _ = tlog::parse_checkpoint(&s);
        }
        1 => {
            if let Ok(p) = PolicyFile::parse(&s, "fuzz") {
                let _ = p.rule_for("refs/heads/main");
                let _ = p.rule_index("refs/tags/v1.0");
            }
        }
        2 => {
            let _ = pem::decode_all(&s);
            let _ = pem::decode_one(&s, "CERTIFICATE");
            let _ = x509::certificates_from_pem(&s);
        }
        3 => {
            let _ = gitsign::config::parse_config_parameters(&s);
        }
        _ => {
            for algo in [HashAlgo::Sha1, HashAlgo::Sha256] {
                for kind in [ObjectKind::Commit, ObjectKind::Tag] {
                    if let Ok(Some(signed)) = gitobj::split(rest, kind, algo) {
                        let _ = cms::unarmor(&signed.signature);
                        let _ = gitobj::join_commit(&signed.payload, &signed.signature, algo);
                        let _ = gitobj::gogit_commit_reencoding(&signed.payload, &signed.signature);
                    }
                }
            }
            let _ = HashAlgo::detect(rest);
            let _ = gitobj::subject(rest);
            let _ = ObjectInfo::from_payload(rest);
        }
    }
}
