//! Command-line arguments: gpg-compatible flags at the top level (what git
//! passes) and subcommands for people.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Keyless git signing and verification with Sigstore.
#[derive(Parser, Debug)]
#[command(
    name = "gitsign",
    version,
    about = "Keyless git signing and verification with Sigstore (set as git's gpg.x509.program)",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A subcommand; without one, gitsign behaves like gpgsm for git.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// gpg-compatible flags.
    #[command(flatten)]
    pub gpg: GpgArgs,
}

/// The flags git passes (`--status-fd=2 -bsau KEY`, `--status-fd=1 --verify FILE -`).
#[derive(Args, Debug, Default)]
pub struct GpgArgs {
    /// Write machine-readable status lines to this file descriptor.
    #[arg(long = "status-fd", value_name = "FD")]
    pub status_fd: Option<i32>,
    /// Verify a detached signature: --verify SIGFILE [DATAFILE|-].
    #[arg(short = 'v', long = "verify")]
    pub verify: bool,
    /// Make a signature.
    #[arg(short = 's', long = "sign")]
    pub sign: bool,
    /// Make a detached signature.
    #[arg(short = 'b', long = "detach-sign")]
    pub detach_sign: bool,
    /// ASCII-armor the output.
    #[arg(short = 'a', long = "armor")]
    pub armor: bool,
    /// Key to sign with (git passes user.signingkey or the committer).
    #[arg(short = 'u', long = "local-user", value_name = "KEY")]
    pub local_user: Option<String>,
    /// Number of certificates to include (accepted for gpgsm compatibility).
    #[arg(
        long = "include-certs",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub include_certs: Option<i32>,
    /// Accepted for gpg compatibility; ignored.
    #[arg(long = "keyid-format", value_name = "FORMAT", hide = true)]
    pub keyid_format: Option<String>,
    /// Files: the signature and data for --verify, or the data to sign.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Verify commits and check who signed them.
    Verify(VerifyArgs),
    /// Verify an annotated tag and check who signed it.
    VerifyTag(VerifyTagArgs),
    /// Verify a Sigstore bundle over a file or digest.
    VerifyBundle(VerifyBundleArgs),
    /// Check a signing policy file.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Server-side hooks that refuse pushes with unsigned or unauthorised commits.
    #[command(subcommand)]
    Hook(HookCommand),
    /// Inspect or clear the credential cache.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Export a commit's or tag's signature as a Sigstore bundle (offline mode).
    ExportBundle(ExportBundleArgs),
    /// Print the version and the resolved configuration.
    Version,
}

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Human-readable.
    Text,
    /// One JSON object per commit (id, verdict, identity, issuer, tlog index, reason).
    Json,
}

/// Identity and trust options shared by the verify commands.
#[derive(Args, Debug, Default, Clone)]
pub struct PolicyArgs {
    /// The identity expected in the certificate (email or URI).
    #[arg(long)]
    pub certificate_identity: Vec<String>,
    /// A regular expression (RE2, whole value) the identity must match.
    #[arg(long)]
    pub certificate_identity_regexp: Vec<String>,
    /// The OIDC issuer expected in the certificate.
    #[arg(long)]
    pub certificate_oidc_issuer: Vec<String>,
    /// A regular expression (RE2, whole value) the issuer must match.
    #[arg(long)]
    pub certificate_oidc_issuer_regexp: Vec<String>,
    /// GitHub workflow trigger (event_name) the certificate must carry.
    #[arg(long)]
    pub certificate_github_workflow_trigger: Option<String>,
    /// GitHub workflow commit SHA the certificate must carry.
    #[arg(long)]
    pub certificate_github_workflow_sha: Option<String>,
    /// GitHub workflow name the certificate must carry.
    #[arg(long)]
    pub certificate_github_workflow_name: Option<String>,
    /// GitHub workflow repository (owner/name) the certificate must carry.
    #[arg(long)]
    pub certificate_github_workflow_repository: Option<String>,
    /// GitHub workflow ref the certificate must carry.
    #[arg(long)]
    pub certificate_github_workflow_ref: Option<String>,
    /// A Sigstore trusted_root.json to verify against.
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// Accept online-mode signatures whose log entry cannot be checked,
    /// saying so (the embedded entries of offline-mode signatures are always checked).
    #[arg(long)]
    pub insecure_ignore_tlog: bool,
    /// Do not require a Certificate Transparency SCT.
    #[arg(long)]
    pub insecure_ignore_sct: bool,
}

/// `gitsign verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Commits or ranges to verify (`HEAD`, `v1.0..main`, `^A B`); default HEAD.
    #[arg(value_name = "REV|RANGE", allow_hyphen_values = false)]
    pub revs: Vec<String>,
    /// Verify every commit reachable from any ref.
    #[arg(long)]
    pub all: bool,
    /// Only commits more recent than this date (as `git rev-list --since`).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Output: human-readable text, or one JSON object per commit.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// A policy file deciding who may sign (instead of identity flags).
    #[arg(long = "policy", value_name = "FILE")]
    pub policy_file: Option<std::path::PathBuf>,
    /// With a policy file: judge as if the commits were pushed to this ref.
    #[arg(long = "ref", value_name = "REF")]
    pub ref_name: Option<String>,
    /// Worker threads (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Policy and trust.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// `gitsign verify-tag`.
#[derive(Args, Debug)]
pub struct VerifyTagArgs {
    /// The tag to verify.
    #[arg(value_name = "TAG")]
    pub tag: String,
    /// Policy and trust.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// `gitsign verify-bundle`.
#[derive(Args, Debug)]
pub struct VerifyBundleArgs {
    /// The Sigstore bundle (JSON).
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    /// A PEM public key, for bundles signed with a key instead of a certificate.
    #[arg(long, value_name = "PEM")]
    pub key: Option<PathBuf>,
    /// The artifact: a file, or sha256:HEX.
    #[arg(value_name = "FILE_OR_DIGEST")]
    pub artifact: String,
    /// Policy and trust.
    #[command(flatten)]
    pub policy: PolicyArgs,
}

/// `gitsign export-bundle`.
#[derive(Args, Debug)]
pub struct ExportBundleArgs {
    /// The commit or annotated tag (default HEAD).
    #[arg(value_name = "REV", default_value = "HEAD")]
    pub rev: String,
    /// Where to write the bundle (JSON).
    #[arg(long, value_name = "FILE")]
    pub output: std::path::PathBuf,
    /// Where to write the artifact the bundle signs (the DER signed attributes).
    #[arg(long, value_name = "FILE")]
    pub artifact: std::path::PathBuf,
}

/// `gitsign policy ...`.
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Validate a policy file; errors name the line.
    Check {
        /// The policy file (TOML).
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
    },
}

/// `gitsign hook ...`.
#[derive(Subcommand, Debug)]
pub enum HookCommand {
    /// The pre-receive hook: reads `old new ref` lines on stdin.
    PreReceive {
        /// The policy file (default: gitsign.policy or gitsign.policyRef).
        #[arg(long, value_name = "FILE")]
        policy: Option<std::path::PathBuf>,
    },
    /// The update hook: one ref at a time.
    Update {
        /// The ref being updated.
        #[arg(value_name = "REF")]
        ref_name: String,
        /// Its old value.
        #[arg(value_name = "OLD")]
        old: String,
        /// Its new value.
        #[arg(value_name = "NEW")]
        new: String,
        /// The policy file (default: gitsign.policy or gitsign.policyRef).
        #[arg(long, value_name = "FILE")]
        policy: Option<std::path::PathBuf>,
    },
}

/// `gitsign cache ...`.
#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// What is cached, for whom, until when (never the keys).
    Status,
    /// Forget every cached credential.
    Clear,
}
