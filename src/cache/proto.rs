//! The wire protocol between gitsign and the cache daemon.
//!
//! Transport: a Unix stream socket, owner-only (directory 0700, socket
//! 0600), every peer's uid checked against the daemon's. Framing: each
//! message is a 4-byte big-endian length followed by that many bytes of
//! JSON; frames larger than [`MAX_FRAME`] are refused. Every request
//! carries [`VERSION`]; a daemon answers a request of another version
//! with [`Response::Error`] naming both versions, so neither side guesses.
//!
//! Operations:
//! - `Get { key, claim: false }`: the cached certificate (never the key),
//!   or `Miss`.
//! - `Get { key, claim: true, wait_ms }`: single flight. If cached:
//!   `Hit`. If nobody is fetching it: `Claimed` — this connection now owns
//!   the login; the client logs in and sends `Store` (or `Release` on
//!   failure) on the SAME connection. If another client holds the claim:
//!   the daemon answers only when that client stores (`Hit`), releases or
//!   disconnects (then the claim passes to the next waiter: `Claimed`),
//!   or `wait_ms` runs out (`Timeout`). A claim also lapses after
//!   [`CLAIM_LEASE_MS`] without a store.
//! - `Store { key, credential }`: cache it until `expires_at`, if its
//!   certificate passes the checks of a fresh one against the daemon's
//!   trusted root. The key goes in and never comes out again.
//! - `Sign { key, message_b64, rekor }`: the daemon signs `message` with the
//!   cached key (ECDSA P-256, SHA-256, DER), like ssh-agent: the key never
//!   leaves it. With `rekor`, it also posts the hashedrekord entry for that
//!   signature over its kept-alive connection, but only to a Rekor its own
//!   configuration names (never a URL only the client names), following no
//!   redirect, and returns the log entry Rekor created for exactly that
//!   signature, parsed and re-encoded (`entry_b64`, a protobuf
//!   `TransparencyLogEntry`), never Rekor's bytes; or why not
//!   (`rekor_error`), so the client can post the entry itself. The client
//!   checks the entry as if it had posted it. `Miss` when nothing live is
//!   cached.
//! - `List`: what is cached, for whom, until when (no secrets).
//! - `Clear`: forget everything (keys zeroized).
//! - `Shutdown`: the daemon exits.
//!
//! Entries are served only while `now < expires_at` by the wall clock at
//! the time of serving (a clock jump past expiry is honoured).

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Protocol version (2: the daemon signs, `Get` no longer returns keys;
/// 3: the key names the identity, `Signed` carries a parsed log entry).
pub const VERSION: u32 = 3;

/// Largest frame either side accepts.
pub const MAX_FRAME: usize = 1024 * 1024;

/// How long a claim lasts without a store (the login's upper bound).
pub const CLAIM_LEASE_MS: u64 = 10 * 60 * 1000;

/// The environment variable (Go gitsign's name) that names the socket.
pub const SOCKET_ENV: &str = "GITSIGN_CREDENTIAL_CACHE";

/// What decides which certificate a signature needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CacheKey {
    /// Fulcio URL.
    pub fulcio: String,
    /// OIDC issuer URL.
    pub issuer: String,
    /// OIDC client id.
    pub client_id: String,
    /// An extra scope, e.g. the repository path with `gitsign.cachePerRepo`
    /// (Go gitsign caches per directory); empty for one entry per user.
    #[serde(default)]
    pub scope: String,
    /// The identity the signature asks for (the committer's email under
    /// `gitsign.matchCommitter`, else the key git passes with `-u`), so
    /// that a login as one identity never signs for another.
    #[serde(default)]
    pub identity: String,
}

/// A signing credential: the private key and its certificate chain.
/// Zeroized on drop; its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Credential {
    /// PKCS#8 DER of the private key, base64.
    pub private_key_pkcs8_b64: String,
    /// The certificate chain, PEM, leaf first.
    pub chain_pem: String,
    /// The identity the certificate names (for `List`).
    pub identity: String,
    /// Serve until this Unix time (the certificate's notAfter minus a margin).
    pub expires_at: i64,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("private_key_pkcs8_b64", &"<hidden>")
            .field("identity", &self.identity)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// Must be [`VERSION`].
    pub version: u32,
    /// The operation.
    #[serde(flatten)]
    pub op: Op,
}

/// Operations.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Look up a credential (see the module docs for `claim`).
    Get {
        /// Which credential.
        key: CacheKey,
        /// Single flight: claim the login on a miss, or wait for the claimer.
        #[serde(default)]
        claim: bool,
        /// Longest wait for another client's login, in milliseconds.
        #[serde(default)]
        wait_ms: u64,
    },
    /// Cache a credential.
    Store {
        /// Under which key.
        key: CacheKey,
        /// The credential.
        credential: Credential,
    },
    /// Sign with a cached key (and log the signature in Rekor).
    Sign {
        /// Which credential.
        key: CacheKey,
        /// What to sign, base64.
        message_b64: String,
        /// Also post the hashedrekord entry for the signature here.
        #[serde(default)]
        rekor: Option<RekorTarget>,
    },
    /// Give up a claim without storing (the login failed).
    Release {
        /// The claimed key.
        key: CacheKey,
    },
    /// List entries (no secrets).
    List,
    /// Forget every entry.
    Clear,
    /// Stop the daemon.
    Shutdown,
}

/// A cached credential's public part: what `Get` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certified {
    /// The certificate chain, PEM, leaf first.
    pub chain_pem: String,
    /// The identity the certificate names.
    pub identity: String,
    /// Served until this Unix time.
    pub expires_at: i64,
}

/// Where the daemon should log a signature it makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RekorTarget {
    /// Rekor's base URL; the entry goes to `{url}/api/v1/log/entries`.
    pub url: String,
    /// The whole request's time limit, in milliseconds.
    pub timeout_ms: u64,
}

/// One entry as `List` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryInfo {
    /// Its key.
    pub key: CacheKey,
    /// The certificate identity.
    pub identity: String,
    /// Served until (Unix time).
    pub expires_at: i64,
}

/// A response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Response {
    /// The cached credential's certificate.
    Hit {
        /// It.
        credential: Certified,
    },
    /// A signature by the cached key.
    Signed {
        /// ECDSA P-256 SHA-256, DER, base64.
        signature_b64: String,
        /// The log entry Rekor created for this signature (a protobuf
        /// `TransparencyLogEntry` with its body, base64), when asked to log.
        #[serde(default)]
        entry_b64: Option<String>,
        /// Why the daemon could not get an answer from Rekor.
        #[serde(default)]
        rekor_error: Option<String>,
    },
    /// Not cached (and not claimed: `claim` was false).
    Miss,
    /// This connection now owns the login for the key.
    Claimed,
    /// Waited `wait_ms` for another client's login in vain.
    Timeout,
    /// Done (Store, Release, Clear, Shutdown).
    Ok,
    /// The entries.
    Entries {
        /// Each entry.
        entries: Vec<EntryInfo>,
        /// The daemon's process id.
        pid: u32,
        /// The daemon's protocol version.
        version: u32,
    },
    /// A failure, as a sentence.
    Error {
        /// What went wrong.
        message: String,
    },
}

/// Encodes one frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, String> {
    let body =
        serde_json::to_vec(msg).map_err(|e| format!("cannot encode a cache message: {e}"))?;
    if body.len() > MAX_FRAME {
        return Err("a cache message is too large".into());
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reads a frame's length header; refuses oversized frames.
pub fn frame_len(header: [u8; 4]) -> Result<usize, String> {
    let n = u32::from_be_bytes(header) as usize;
    if n > MAX_FRAME {
        return Err(format!(
            "a cache message of {n} bytes exceeds the {MAX_FRAME}-byte limit"
        ));
    }
    Ok(n)
}

/// Encodes one frame into a buffer that is zeroized when dropped, sized
/// exactly so that no reallocation leaves a copy of a key behind.
pub fn encode_secret<T: Serialize>(msg: &T) -> Result<Zeroizing<Vec<u8>>, String> {
    /// Counts bytes without storing them.
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, msg)
        .map_err(|e| format!("cannot encode a cache message: {e}"))?;
    if count.0 > MAX_FRAME {
        return Err(format!(
            "a cache message of {} bytes exceeds the {MAX_FRAME}-byte limit",
            count.0
        ));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(count.0 + 4));
    out.extend_from_slice(&(count.0 as u32).to_be_bytes());
    serde_json::to_writer(&mut *out, msg)
        .map_err(|e| format!("cannot encode a cache message: {e}"))?;
    if out.len() != count.0 + 4 {
        return Err("a cache message encoded to two different lengths".into());
    }
    Ok(out)
}

/// Decodes a request as [`Request`]'s `Deserialize` would, but straight
/// into its fields: serde's tagged and flattened enums first copy every
/// value into an intermediate buffer, which would leave copies of a
/// private key in freed memory, never zeroized.
pub fn decode_request(body: &[u8]) -> Result<Request, String> {
    #[derive(Deserialize)]
    struct Wire {
        version: u32,
        op: String,
        key: Option<CacheKey>,
        #[serde(default)]
        claim: bool,
        #[serde(default)]
        wait_ms: u64,
        credential: Option<Credential>,
        message_b64: Option<String>,
        #[serde(default)]
        rekor: Option<RekorTarget>,
    }
    let w: Wire = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let missing = |field: &str| format!("missing field `{field}` for op `{}`", w.op);
    let op = match w.op.as_str() {
        "get" => Op::Get {
            key: w.key.ok_or_else(|| missing("key"))?,
            claim: w.claim,
            wait_ms: w.wait_ms,
        },
        "store" => Op::Store {
            key: w.key.ok_or_else(|| missing("key"))?,
            credential: w.credential.ok_or_else(|| missing("credential"))?,
        },
        "sign" => Op::Sign {
            key: w.key.ok_or_else(|| missing("key"))?,
            message_b64: w.message_b64.ok_or_else(|| missing("message_b64"))?,
            rekor: w.rekor,
        },
        "release" => Op::Release {
            key: w.key.ok_or_else(|| missing("key"))?,
        },
        "list" => Op::List,
        "clear" => Op::Clear,
        "shutdown" => Op::Shutdown,
        other => return Err(format!("unknown op `{other}`")),
    };
    Ok(Request {
        version: w.version,
        op,
    })
}

/// Decodes a response as [`Response`]'s `Deserialize` would, without the
/// intermediate copies (see [`decode_request`]).
pub fn decode_response(body: &[u8]) -> Result<Response, String> {
    #[derive(Deserialize)]
    struct Wire {
        status: String,
        credential: Option<Certified>,
        signature_b64: Option<String>,
        #[serde(default)]
        entry_b64: Option<String>,
        #[serde(default)]
        rekor_error: Option<String>,
        entries: Option<Vec<EntryInfo>>,
        pid: Option<u32>,
        version: Option<u32>,
        message: Option<String>,
    }
    let w: Wire = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let missing = |field: &str| format!("missing field `{field}` for status `{}`", w.status);
    Ok(match w.status.as_str() {
        "hit" => Response::Hit {
            credential: w.credential.ok_or_else(|| missing("credential"))?,
        },
        "signed" => Response::Signed {
            signature_b64: w.signature_b64.ok_or_else(|| missing("signature_b64"))?,
            entry_b64: w.entry_b64,
            rekor_error: w.rekor_error,
        },
        "miss" => Response::Miss,
        "claimed" => Response::Claimed,
        "timeout" => Response::Timeout,
        "ok" => Response::Ok,
        "entries" => Response::Entries {
            entries: w.entries.ok_or_else(|| missing("entries"))?,
            pid: w.pid.ok_or_else(|| missing("pid"))?,
            version: w.version.ok_or_else(|| missing("version"))?,
        },
        "error" => Response::Error {
            message: w.message.ok_or_else(|| missing("message"))?,
        },
        other => return Err(format!("unknown status `{other}`")),
    })
}

/// The only field a daemon reads before it knows the request's version, so
/// that a request of another version (perhaps with operations this daemon
/// does not know) is answered with [`version_mismatch_message`].
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct VersionProbe {
    /// The request's protocol version.
    pub version: u32,
}

/// The start of the daemon's answer to a request of another version.
const MISMATCH_PREFIX: &str =
    "protocol version mismatch: gitsign-credential-cache speaks protocol ";

/// The daemon's message for a request of protocol `client` when it speaks
/// `daemon`; [`parse_version_mismatch`] reads both numbers back.
pub fn version_mismatch_message(daemon: u32, client: u32) -> String {
    format!(
        "{MISMATCH_PREFIX}{daemon}, the client sent protocol {client}: restart the daemon so that it and gitsign come from the same release"
    )
}

/// Reads `(daemon, client)` versions from a [`version_mismatch_message`].
pub fn parse_version_mismatch(message: &str) -> Option<(u32, u32)> {
    let rest = message.strip_prefix(MISMATCH_PREFIX)?;
    let (daemon, rest) = rest.split_once(", the client sent protocol ")?;
    let (client, _) = rest.split_once(':')?;
    Some((daemon.parse().ok()?, client.parse().ok()?))
}

/// The start of the daemon's answer to a peer of another uid.
pub const PEER_REFUSED_PREFIX: &str = "refused: this gitsign-credential-cache serves only uid ";

/// The daemon's message to a peer whose uid is not its own.
pub fn peer_refused_message(daemon_uid: u32, peer_uid: u32) -> String {
    format!(
        "{PEER_REFUSED_PREFIX}{daemon_uid} and the connection came from uid {peer_uid}; run a cache daemon as your own user"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let key = CacheKey {
            fulcio: "f".into(),
            issuer: "i".into(),
            client_id: "c".into(),
            scope: String::new(),
            identity: String::new(),
        };
        let r = Request {
            version: VERSION,
            op: Op::Get {
                key,
                claim: true,
                wait_ms: 5,
            },
        };
        let bytes = encode(&r).unwrap();
        let n = frame_len(bytes[..4].try_into().unwrap()).unwrap();
        let back: Request = serde_json::from_slice(&bytes[4..4 + n]).unwrap();
        assert!(matches!(
            back.op,
            Op::Get {
                claim: true,
                wait_ms: 5,
                ..
            }
        ));
        assert!(frame_len((MAX_FRAME as u32 + 1).to_be_bytes()).is_err());
        let c = Credential {
            private_key_pkcs8_b64: "SECRET".into(),
            chain_pem: String::new(),
            identity: "a".into(),
            expires_at: 1,
        };
        assert!(!format!("{c:?}").contains("SECRET"));
    }

    #[test]
    fn secret_encoding_matches_plain() {
        let c = Credential {
            private_key_pkcs8_b64: "SECRET".into(),
            chain_pem: "a\nb".into(),
            identity: "a".into(),
            expires_at: 1,
        };
        let r = Request {
            version: VERSION,
            op: Op::Store {
                key: CacheKey {
                    fulcio: "f".into(),
                    issuer: "i".into(),
                    client_id: "c".into(),
                    scope: String::new(),
                    identity: "a@example.com".into(),
                },
                credential: c,
            },
        };
        assert_eq!(encode(&r).unwrap(), encode_secret(&r).unwrap().to_vec());
    }

    #[test]
    fn version_messages_round_trip() {
        let m = version_mismatch_message(1, 7);
        assert_eq!(parse_version_mismatch(&m), Some((1, 7)));
        assert_eq!(parse_version_mismatch("something else"), None);
        let probe: VersionProbe =
            serde_json::from_str(r#"{"version":9,"op":"future_op","x":[1]}"#).unwrap();
        assert_eq!(probe.version, 9);
        assert!(peer_refused_message(1000, 65534).starts_with(PEER_REFUSED_PREFIX));
    }

    #[test]
    fn direct_decoders_agree_with_serde() {
        let key = CacheKey {
            fulcio: "f".into(),
            issuer: "i".into(),
            client_id: "c".into(),
            scope: "s".into(),
            identity: "a@example.com".into(),
        };
        let credential = Credential {
            private_key_pkcs8_b64: "K".into(),
            chain_pem: "P\n".into(),
            identity: "a".into(),
            expires_at: 9,
        };
        let ops = vec![
            Op::Get {
                key: key.clone(),
                claim: true,
                wait_ms: 7,
            },
            Op::Store {
                key: key.clone(),
                credential: credential.clone(),
            },
            Op::Sign {
                key: key.clone(),
                message_b64: "bWVzc2FnZQ==".into(),
                rekor: None,
            },
            Op::Sign {
                key: key.clone(),
                message_b64: "bWVzc2FnZQ==".into(),
                rekor: Some(RekorTarget {
                    url: "http://127.0.0.1:1".into(),
                    timeout_ms: 30_000,
                }),
            },
            Op::Release { key: key.clone() },
            Op::List,
            Op::Clear,
            Op::Shutdown,
        ];
        for op in ops {
            let bytes = serde_json::to_vec(&Request {
                version: VERSION,
                op,
            })
            .unwrap();
            let ours = decode_request(&bytes).unwrap();
            let serdes: Request = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(format!("{ours:?}"), format!("{serdes:?}"));
        }
        // Defaults as serde has them.
        let r = decode_request(
            br#"{"version":1,"op":"get","key":{"fulcio":"f","issuer":"i","client_id":"c"}}"#,
        )
        .unwrap();
        assert!(
            matches!(r.op, Op::Get { claim: false, wait_ms: 0, ref key } if key.scope.is_empty())
        );
        assert!(decode_request(br#"{"version":1,"op":"get"}"#).is_err());
        assert!(decode_request(br#"{"version":1,"op":"fly"}"#).is_err());
        let certified = Certified {
            chain_pem: credential.chain_pem.clone(),
            identity: credential.identity.clone(),
            expires_at: credential.expires_at,
        };
        let responses = vec![
            Response::Hit {
                credential: certified,
            },
            Response::Signed {
                signature_b64: "c2ln".into(),
                entry_b64: Some("CAE=".into()),
                rekor_error: None,
            },
            Response::Signed {
                signature_b64: "c2ln".into(),
                entry_b64: None,
                rekor_error: Some("cannot reach".into()),
            },
            Response::Miss,
            Response::Claimed,
            Response::Timeout,
            Response::Ok,
            Response::Entries {
                entries: vec![EntryInfo {
                    key,
                    identity: "a".into(),
                    expires_at: 3,
                }],
                pid: 4,
                version: 1,
            },
            Response::Error {
                message: "m".into(),
            },
        ];
        for r in responses {
            let bytes = serde_json::to_vec(&r).unwrap();
            let ours = decode_response(&bytes).unwrap();
            let serdes: Response = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(format!("{ours:?}"), format!("{serdes:?}"));
        }
        assert!(decode_response(br#"{"status":"hit"}"#).is_err());
        assert!(decode_response(br#"{"status":"signed"}"#).is_err());
        assert!(decode_request(
            br#"{"version":2,"op":"sign","key":{"fulcio":"f","issuer":"i","client_id":"c"}}"#
        )
        .is_err());
    }
}
