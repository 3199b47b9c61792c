//! cosign's ambient token providers through the user's path: a loopback
//! stand-in for each platform (tests/testbed/ambient.mjs: the Buildkite
//! agent API, the GCE metadata server and IAM Credentials over HTTP, the
//! SPIFFE Workload API as gRPC over a unix socket) hands out real ID tokens
//! minted by the testbed's issuer; `git commit -S` signs through gitsign
//! and `git verify-commit` passes, with the provider chosen explicitly and
//! by auto-detection; and each refusal is one sentence naming the provider
//! and what went wrong.

mod common;

use common::{expect_sign_failure, text, Ambient, Repo, TempDir, Testbed};
use gitsign::oidc::{self, OidcSettings, Provider};
use gitsign::sigstore::http::Http;
use serde_json::{json, Value};

/// The agent token the Buildkite stand-in expects.
const AGENT_TOKEN: &str = "bk-agent-token";
/// The access token the metadata stand-in hands out (never to be printed).
const ACCESS_TOKEN: &str = "ya29.standin-access-token";
const JOB: &str = "0190-job-1";
const SERVICE_ACCOUNT: &str = "signer@testbed-project.iam.gserviceaccount.com";

/// The stand-ins with this file's job, agent token and service account.
struct Standin(Ambient);

impl std::ops::Deref for Standin {
    type Target = Ambient;
    fn deref(&self) -> &Ambient {
        &self.0
    }
}

impl Standin {
    /// Starts the stand-ins against `tb`; `fail` as ambient.mjs takes it.
    fn start(tb: &Testbed, fail: Value) -> Standin {
        Standin(Ambient::start(
            tb,
            json!({ "agentToken": AGENT_TOKEN, "jobId": JOB, "fail": fail }),
        ))
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The variables a job on each platform has.
    fn env(&self, provider: &str) -> Vec<(String, String)> {
        let v = |k: &str, v: String| (k.to_string(), v);
        match provider {
            "buildkite-agent" => vec![
                v("BUILDKITE_AGENT_ACCESS_TOKEN", AGENT_TOKEN.into()),
                v("BUILDKITE_AGENT_ENDPOINT", format!("{}/v3", self.base())),
                v("BUILDKITE_JOB_ID", JOB.into()),
            ],
            "google-workload-identity" => {
                vec![v("GCE_METADATA_HOST", format!("127.0.0.1:{}", self.port))]
            }
            "google-impersonate" => vec![
                v("GOOGLE_SERVICE_ACCOUNT_NAME", SERVICE_ACCOUNT.into()),
                v("GCE_METADATA_HOST", format!("127.0.0.1:{}", self.port)),
                v("GITSIGN_IAM_CREDENTIALS_URL", self.base()),
            ],
            "spiffe" => vec![v(
                "SPIFFE_ENDPOINT_SOCKET",
                format!("unix://{}", self.socket.display()),
            )],
            _ => unreachable!(),
        }
    }
}

/// Variables for one gitsign process.
type Env = Vec<(String, String)>;

/// A repository that signs as the testbed's account and trusts it.
fn signing_repo(tb: &Testbed, tag: &str, env: Vec<(String, String)>) -> Repo {
    let mut repo = Repo::new(tag);
    repo.env.extend(tb.gitsign_env());
    repo.env.extend(env);
    let email = tb.var("TESTBED_EMAIL").to_string();
    repo.env
        .retain(|(k, _)| k != "GIT_COMMITTER_EMAIL" && k != "GIT_AUTHOR_EMAIL");
    repo.env.push(("GIT_COMMITTER_EMAIL".into(), email.clone()));
    repo.env.push(("GIT_AUTHOR_EMAIL".into(), email.clone()));
    repo.git_ok(&["config", "gitsign.certificateIdentity", &email]);
    repo.git_ok(&[
        "config",
        "gitsign.certificateOidcIssuer",
        tb.var("GITSIGN_OIDC_ISSUER"),
    ]);
    repo.git_ok(&["config", "gitsign.matchCommitter", "true"]);
    repo
}

/// `git commit -S` then `git verify-commit`; returns git's stderr.
fn sign_and_verify(tb: &Testbed, repo: &Repo, what: &str) -> String {
    std::fs::write(repo.path().join("f"), what).unwrap();
    repo.git_ok(&["add", "f"]);
    let o = repo.git(&["commit", "-q", "-S", "-m", what]);
    let out = text(&o);
    assert!(o.status.success(), "{what}: git commit -S failed: {out}");
    let v = repo.git(&["verify-commit", "HEAD"]);
    assert!(v.status.success(), "{what}: verify-commit: {}", text(&v));
    assert_eq!(
        repo.git_ok(&["log", "-1", "--format=%G?|%GS"]),
        format!("G|{}", tb.var("TESTBED_EMAIL")),
        "{what}"
    );
    for secret in [AGENT_TOKEN, ACCESS_TOKEN] {
        assert!(!out.contains(secret), "{what}: a token was printed: {out}");
    }
    out
}

/// Each provider signs a commit, chosen explicitly and (except workload
/// identity, which needs a Google machine: see the library test below)
/// auto-detected, and sends what its platform's protocol asks for.
#[test]
fn each_provider_signs_a_commit_explicitly_and_by_auto_detection() {
    let tb = Testbed::start();
    let st = Standin::start(&tb, json!({}));
    for provider in [
        "buildkite-agent",
        "google-workload-identity",
        "google-impersonate",
        "spiffe",
    ] {
        let mut env = st.env(provider);
        env.push(("GITSIGN_TOKEN_PROVIDER".into(), provider.into()));
        let repo = signing_repo(&tb, &format!("explicit-{provider}"), env);
        sign_and_verify(&tb, &repo, &format!("{provider} explicit"));
        if provider != "google-workload-identity" {
            let repo = signing_repo(&tb, &format!("auto-{provider}"), st.env(provider));
            sign_and_verify(&tb, &repo, &format!("{provider} auto"));
        }
    }

    // What each platform was asked: the audience sigstore, the job's agent
    // token, the metadata header, the full token format, includeEmail with
    // the metadata server's access token, the Workload API's security header.
    let bk = st.requests("buildkite");
    assert_eq!(bk.len(), 2, "{bk:?}");
    for r in &bk {
        assert_eq!(r["job"], JOB);
        assert_eq!(r["audience"], "sigstore");
        assert_eq!(r["auth_ok"], true);
    }
    let md = st.requests("metadata");
    assert!(md.iter().all(|r| r["flavor"] == "Google"), "{md:?}");
    let identity: Vec<_> = md
        .iter()
        .filter(|r| r["path"] == "instance/service-accounts/default/identity")
        .collect();
    assert_eq!(identity.len(), 1, "{md:?}");
    assert_eq!(identity[0]["audience"], "sigstore");
    assert_eq!(identity[0]["format"], "full");
    let iam = st.requests("iam");
    assert_eq!(iam.len(), 2, "{iam:?}");
    for r in &iam {
        assert_eq!(r["target"], SERVICE_ACCOUNT);
        assert_eq!(r["audience"], "sigstore");
        assert_eq!(r["includeEmail"], true);
        assert_eq!(r["auth_ok"], true);
    }
    let sp = st.requests("spiffe");
    assert_eq!(sp.len(), 2, "{sp:?}");
    for r in &sp {
        assert_eq!(r["path"], "/SpiffeWorkloadAPI/FetchJWTSVID");
        assert_eq!(r["method"], "POST");
        assert_eq!(r["content_type"], "application/grpc");
        assert_eq!(r["security_header"], "true");
        assert_eq!(r["audience"], json!(["sigstore"]));
    }
}

/// Settings as the library's caller (the CLI) fills them, for a test.
fn settings(tb: &Testbed) -> OidcSettings {
    OidcSettings {
        issuer: tb.var("GITSIGN_OIDC_ISSUER").into(),
        token_file: Some("/nonexistent/cosign-token".into()),
        gce_product_name_file: "/nonexistent/product_name".into(),
        spiffe_endpoint_socket: Some("unix:///nonexistent/api.sock".into()),
        ssh_session: true,
        ..OidcSettings::default()
    }
}

/// Workload identity's auto-detection needs a machine whose DMI product
/// name is Google's, which no test machine has: the library's file setting
/// stands in. A Google machine whose metadata server gives no identity goes
/// on to the next provider, as cosign's probe does.
#[test]
fn workload_identity_is_auto_detected_on_a_google_machine() {
    let tb = Testbed::start();
    let st = Standin::start(&tb, json!({}));
    let dir = TempDir::new("dmi");
    let product = dir.path().join("product_name");
    std::fs::write(&product, "Google Compute Engine\n").unwrap();
    let http = Http::new(std::time::Duration::from_secs(10)).unwrap();
    let s = OidcSettings {
        gce_product_name_file: product.clone(),
        gce_metadata_host: Some(format!("127.0.0.1:{}", st.port)),
        ..settings(&tb)
    };
    assert_eq!(
        oidc::choose_provider(&s).unwrap(),
        Provider::GoogleWorkloadIdentity
    );
    let t = oidc::get_token(&s, &http, &oidc::NoMessages).unwrap();
    assert_eq!(t.email.as_deref(), Some(tb.var("TESTBED_EMAIL")));
    assert_eq!(st.requests("metadata").len(), 1);

    // The metadata server has no service account for us: SPIFFE is next.
    let st = Standin::start(&tb, json!({"metadata": 404}));
    let s = OidcSettings {
        gce_product_name_file: product,
        gce_metadata_host: Some(format!("127.0.0.1:{}", st.port)),
        spiffe_endpoint_socket: Some(format!("unix://{}", st.socket.display())),
        ..settings(&tb)
    };
    let t = oidc::get_token(&s, &http, &oidc::NoMessages).unwrap();
    assert_eq!(t.email.as_deref(), Some(tb.var("TESTBED_EMAIL")));
    assert_eq!(st.requests("metadata").len(), 1);
    assert_eq!(st.requests("spiffe").len(), 1);
}

/// Each refusal: signing fails, nothing is signed, and the sentence names
/// the provider and what was missing or what the endpoint answered; no
/// token appears in it.
#[test]
fn each_provider_refuses_with_a_sentence_naming_it_and_the_cause() {
    let tb = Testbed::start();
    let ok = Standin::start(&tb, json!({}));
    let bad = Standin::start(
        &tb,
        json!({"buildkite": 401, "metadata": 404, "iam": 403, "spiffe": 7}),
    );
    let env = |st: &Standin, p: &str, drop: &[&str]| -> Env {
        let mut e = st.env(p);
        e.retain(|(k, _)| !drop.contains(&k.as_str()));
        e.push(("GITSIGN_TOKEN_PROVIDER".into(), p.into()));
        e
    };
    // A socket nobody serves, and one whose server accepts and stays mute.
    let dir = TempDir::new("spiffe-mute");
    let dead = dir.path().join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
    let mute = dir.path().join("mute.sock");
    let listener = std::os::unix::net::UnixListener::bind(&mute).unwrap();
    let _held = std::thread::spawn(move || {
        let conns: Vec<_> = listener.incoming().take(4).collect();
        std::thread::sleep(std::time::Duration::from_secs(30));
        drop(conns);
    });
    let certs = tb.stats()["fulcio_certificates"].as_u64();
    let cases: Vec<(&str, Env, String)> = vec![
        (
            "buildkite: the agent refuses the token",
            env(&bad, "buildkite-agent", &[]),
            format!(
                "the token provider buildkite-agent got no token: the Buildkite agent API ({}/v3/jobs/{JOB}/oidc/tokens) answered HTTP 401: {{\"message\":\"Unauthorized\"}}; the agent refused the job's BUILDKITE_AGENT_ACCESS_TOKEN (is the job still running?)",
                bad.base()
            ),
        ),
        (
            "buildkite: no agent token",
            env(&ok, "buildkite-agent", &["BUILDKITE_AGENT_ACCESS_TOKEN"]),
            "the token provider is buildkite-agent but BUILDKITE_AGENT_ACCESS_TOKEN is not set; run gitsign in a Buildkite job step, where the agent sets it".into(),
        ),
        (
            "buildkite: no job id",
            env(&ok, "buildkite-agent", &["BUILDKITE_JOB_ID"]),
            "the token provider is buildkite-agent but BUILDKITE_JOB_ID is not set; run gitsign in a Buildkite job step, where the agent sets it".into(),
        ),
        (
            "workload identity: no service account",
            env(&bad, "google-workload-identity", &[]),
            format!(
                "the token provider google-workload-identity got no token: the GCE metadata server (http://127.0.0.1:{}/computeMetadata/v1/instance/service-accounts/default/identity?audience=sigstore&format=full) answered HTTP 404: Not Found; does this instance or workload have a service account?",
                bad.port
            ),
        ),
        (
            "workload identity: no metadata server",
            vec![
                ("GCE_METADATA_HOST".into(), "127.0.0.1:9".into()),
                ("GITSIGN_TOKEN_PROVIDER".into(), "google-workload-identity".into()),
            ],
            "the token provider google-workload-identity cannot reach the GCE metadata server: cannot reach http://127.0.0.1:9/computeMetadata/v1/instance/service-accounts/default/identity?audience=sigstore&format=full".into(),
        ),
        (
            "impersonation: IAM refuses",
            env(&bad, "google-impersonate", &["GCE_METADATA_HOST"])
                .into_iter()
                .chain([(
                    "GCE_METADATA_HOST".to_string(),
                    format!("127.0.0.1:{}", ok.port),
                )])
                .collect(),
            format!(
                "the token provider google-impersonate got no token for {SERVICE_ACCOUNT}: IAM Credentials ({}/v1/projects/-/serviceAccounts/{SERVICE_ACCOUNT}:generateIdToken) answered HTTP 403: ",
                bad.base()
            ),
        ),
        (
            "impersonation: no target",
            env(&ok, "google-impersonate", &["GOOGLE_SERVICE_ACCOUNT_NAME"]),
            "the token provider is google-impersonate but GOOGLE_SERVICE_ACCOUNT_NAME is not set; set it to the email of the service account to impersonate".into(),
        ),
        (
            "spiffe: the agent has no identity for us",
            env(&bad, "spiffe", &[]),
            format!(
                "the token provider spiffe got no token: the SPIFFE Workload API at unix://{} answered gRPC status 7 (PERMISSION_DENIED): no identity issued; the agent has no identity registered for this process (check its registration entries)",
                bad.socket.display()
            ),
        ),
        (
            "spiffe: no socket",
            vec![
                ("SPIFFE_ENDPOINT_SOCKET".into(), "unix:///nonexistent/spire/api.sock".into()),
                ("GITSIGN_TOKEN_PROVIDER".into(), "spiffe".into()),
            ],
            "the token provider is spiffe but the SPIFFE Workload API socket /nonexistent/spire/api.sock does not exist; start the SPIFFE agent or set SPIFFE_ENDPOINT_SOCKET to its socket (unix:///path)".into(),
        ),
        (
            "spiffe: nobody serves the socket",
            vec![
                ("SPIFFE_ENDPOINT_SOCKET".into(), format!("unix://{}", dead.display())),
                ("GITSIGN_TOKEN_PROVIDER".into(), "spiffe".into()),
            ],
            format!(
                "the token provider spiffe cannot reach the SPIFFE Workload API at unix://{}: connecting: ",
                dead.display()
            ),
        ),
        (
            "spiffe: the agent does not answer in time",
            vec![
                ("SPIFFE_ENDPOINT_SOCKET".into(), format!("unix://{}", mute.display())),
                ("GITSIGN_TOKEN_PROVIDER".into(), "spiffe".into()),
                ("GITSIGN_TIMEOUT".into(), "1".into()),
            ],
            format!(
                "the token provider spiffe got no token: the SPIFFE Workload API at unix://{} did not answer within 1 s (raise gitsign.timeout if the agent is slow)",
                mute.display()
            ),
        ),
    ];
    for (what, env, sentence) in &cases {
        let extra: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        expect_sign_failure(
            &tb,
            what,
            &extra,
            &[sentence, "cannot get an identity token"],
        );
        let (_, _, err) = common::sign_direct(&tb, &extra);
        for secret in [AGENT_TOKEN, ACCESS_TOKEN] {
            assert!(!err.contains(secret), "{what}: a token was printed: {err}");
        }
    }
    // The 403 names the role the caller lacks.
    let (_, _, err) = common::sign_direct(
        &tb,
        &cases[5]
            .1
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect::<Vec<_>>(),
    );
    assert!(
        err.contains(&format!(
            "; the instance's service account needs roles/iam.serviceAccountOpenIdTokenCreator on {SERVICE_ACCOUNT}"
        )),
        "{err}"
    );
    assert_eq!(tb.stats()["fulcio_certificates"].as_u64(), certs);
}
