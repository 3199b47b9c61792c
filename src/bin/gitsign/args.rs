//! Command-line arguments: gpg-compatible flags at the top level (what git
//! passes) and subcommands for people.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// `gitsign --help` and the manual page's description.
const LONG_ABOUT: &str = "Keyless git signing and verification with Sigstore.

Set as git's signing program (git config --global gpg.format x509; git config --global \
gpg.x509.program gitsign), gitsign signs commits and tags for `git commit -S` and `git tag -s` \
with a short-lived Fulcio certificate for your OIDC identity, logged in Rekor, and verifies \
them for `git verify-commit`, `git log --show-signature` and `%G?`. Without a subcommand it \
takes the gpgsm flags git passes (--status-fd, -bsau KEY, --verify).

Configuration: git config gitsign.* and the GITSIGN_* and SIGSTORE_* environment variables; \
`gitsign version` prints every resolved value and where it came from.

Exit status: 0 success; 1 a signature is bad, untrusted or rejected by policy (or a commit is \
unsigned); 2 nothing could be decided (usage, configuration, unreadable input, unreachable \
service).";

/// Keyless git signing and verification with Sigstore.
#[derive(Parser, Debug)]
#[command(
    name = "gitsign",
    version,
    disable_version_flag = true,
    about = "Keyless git signing and verification with Sigstore (set as git's gpg.x509.program)",
    long_about = LONG_ABOUT,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A subcommand; without one, gitsign behaves like gpgsm for git.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Print the version, the trusted root and the resolved configuration
    /// (the same as `gitsign version`, as in Go gitsign).
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// gpg-compatible flags.
    #[command(flatten)]
    pub gpg: GpgArgs,
}

/// The flags git passes (`--status-fd=2 -bsau KEY`, `--status-fd=1 --verify FILE -`).
#[derive(Args, Debug, Default, PartialEq, Eq)]
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
    /// Make a detached signature (`--detached-sign`, Go gitsign's
    /// deprecated spelling, is accepted too).
    #[arg(short = 'b', long = "detach-sign", alias = "detached-sign")]
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
    /// Trust a TUF mirror: verify and cache its trusted root and signing config.
    Initialize(InitializeArgs),
    /// Print a commit's or annotated tag's in-toto statement (Go gitsign's `show`).
    Show(ShowArgs),
    /// Sign a file as an in-toto attestation for HEAD and store it under
    /// refs/attestations/ (Go gitsign's `attest`).
    Attest(AttestArgs),
    /// Print the version, the trusted root in use and the resolved configuration.
    Version,
    /// Print a shell completion script for gitsign (bash, zsh or fish) on stdout.
    Completions {
        /// The shell to complete in.
        #[arg(value_enum, value_name = "SHELL")]
        shell: CompletionShell,
    },
    /// Write the manual pages (gitsign, each subcommand, gitsign-credential-cache) into DIR.
    Man {
        /// The directory to write the pages into (created if missing), e.g. ~/.local/share/man/man1.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// Shells `gitsign completions` writes scripts for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionShell {
    /// Bash (source the script, or put it in bash-completion's completions directory).
    Bash,
    /// Zsh (put the script, named _gitsign, in a directory of $fpath).
    Zsh,
    /// Fish (put the script in ~/.config/fish/completions/gitsign.fish).
    Fish,
}

/// `gitsign show` (Go gitsign's flags).
#[derive(Args, Debug, Clone)]
pub struct ShowArgs {
    /// The commit or annotated tag to describe.
    #[arg(value_name = "REVISION", default_value = "HEAD")]
    pub revision: String,
    /// The git remote whose URL names the statement's subject (empty when
    /// it has none).
    #[arg(short = 'r', long, value_name = "REMOTE", default_value = "origin")]
    pub remote: String,
}

/// What `gitsign attest` attaches an attestation to.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttestObject {
    /// HEAD's commit (stored under refs/attestations/commits).
    Commit,
    /// HEAD's tree (stored under refs/attestations/trees).
    Tree,
}

/// `gitsign attest` (Go gitsign's flags).
#[derive(Args, Debug, Clone)]
pub struct AttestArgs {
    /// The predicate: a JSON object, stored as given and signed inside an
    /// in-toto statement.
    #[arg(short = 'f', long = "filepath", value_name = "FILE")]
    pub filepath: PathBuf,
    /// The predicate type: slsaprovenance, slsaprovenance02, slsaprovenance1,
    /// link, spdx, spdxjson, cyclonedx, vuln, openvex, custom (cosign's
    /// names), or a URI.
    #[arg(long = "type", value_name = "TYPE", default_value = "custom")]
    pub predicate_type: String,
    /// The Git object to attest.
    #[arg(
        long = "objtype",
        value_enum,
        value_name = "TYPE",
        default_value = "commit"
    )]
    pub objtype: AttestObject,
}

/// `gitsign initialize` (Go gitsign's flags).
#[derive(Args, Debug, Default, Clone)]
pub struct InitializeArgs {
    /// The TUF mirror (default: the public-good https://tuf-repo-cdn.sigstore.dev).
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
    /// The mirror's initial root.json (required for any mirror but the public-good one).
    #[arg(long, value_name = "FILE")]
    pub root: Option<PathBuf>,
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
    /// Leave out commits whose committer date is older than DATE (git's
    /// --since-as-filter); each tip is still checked. Committers choose
    /// their dates: in CI verify BASE..HEAD from a commit you trust instead.
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

/// The gpg flags git passes, parsed without building clap's whole command
/// (a measurable part of every signature's start-up). Returns `None` for
/// anything else (subcommands, help, unknown or malformed flags), and clap
/// then parses, and explains errors, as usual. Agrees with clap on every
/// argument list it accepts (tested).
pub fn fast_gpg(argv: &[std::ffi::OsString]) -> Option<GpgArgs> {
    let mut a = GpgArgs::default();
    let mut it = argv.iter().skip(1).map(|s| s.to_str());
    let mut files_only = false;
    let mut any_flag = false;
    // A repeated flag is an error for clap; let it say so.
    let mut seen = std::collections::HashSet::new();
    let mut once = |name: char| seen.insert(name);
    while let Some(arg) = it.next() {
        let arg = arg?;
        if files_only || arg == "-" || !arg.starts_with('-') {
            // A subcommand name is not a file: clap decides.
            if !any_flag && a.files.is_empty() && !files_only {
                return None;
            }
            a.files.push(PathBuf::from(arg));
            continue;
        }
        any_flag = true;
        if arg == "--" {
            files_only = true;
            continue;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let mut value = || -> Option<String> {
                match inline {
                    Some(v) => Some(v.to_string()),
                    None => it.next()?.map(str::to_string),
                }
            };
            let short = match name {
                "status-fd" => 'f',
                "include-certs" => 'i',
                "keyid-format" => 'k',
                "local-user" => 'u',
                "verify" => 'v',
                "sign" => 's',
                "detach-sign" | "detached-sign" => 'b',
                "armor" => 'a',
                _ => return None,
            };
            if !once(short) {
                return None;
            }
            match name {
                "status-fd" => a.status_fd = Some(value()?.parse().ok()?),
                "include-certs" => a.include_certs = Some(value()?.parse().ok()?),
                "keyid-format" => a.keyid_format = Some(value()?),
                "local-user" => a.local_user = Some(value()?),
                "verify" | "sign" | "detach-sign" | "detached-sign" | "armor"
                    if inline.is_none() =>
                {
                    match name {
                        "verify" => a.verify = true,
                        "sign" => a.sign = true,
                        "detach-sign" | "detached-sign" => a.detach_sign = true,
                        _ => a.armor = true,
                    }
                }
                _ => return None,
            }
            continue;
        }
        // Bundled short flags: -bsau KEY, -uKEY, -v.
        let shorts = &arg[1..];
        for (i, c) in shorts.char_indices() {
            if !once(c) {
                return None;
            }
            match c {
                'v' => a.verify = true,
                's' => a.sign = true,
                'b' => a.detach_sign = true,
                'a' => a.armor = true,
                'u' => {
                    let rest = &shorts[i + 1..];
                    let rest = rest.strip_prefix('=').unwrap_or(rest);
                    a.local_user = Some(if rest.is_empty() {
                        it.next()??.to_string()
                    } else {
                        rest.to_string()
                    });
                    break;
                }
                _ => return None,
            }
        }
    }
    any_flag.then_some(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn argv(s: &str) -> Vec<std::ffi::OsString> {
        std::iter::once("gitsign")
            .chain(s.split(' ').filter(|a| !a.is_empty()))
            .map(Into::into)
            .collect()
    }

    #[test]
    fn fast_path_agrees_with_clap() {
        let accepted = [
            "--status-fd=2 -bsau KEY",
            "--status-fd 2 -bsau KEY",
            "--status-fd=1 --verify /tmp/sig -",
            "--status-fd=1 -v /tmp/sig -",
            "-bsau KEY --include-certs=-1",
            "-bsau KEY --include-certs -1",
            "--sign --detach-sign --armor --local-user KEY file",
            "--sign --detached-sign --armor --local-user KEY file",
            "--local-user=KEY -s -b -a",
            "-bsauKEY",
            "-bsau=KEY",
            "-s -b -a -u KEY --keyid-format=long",
            "--status-fd=2 -bsau KEY -- -strange-file",
            "-bsa -u KEY data",
            "-bsaux",
        ];
        for line in accepted {
            let fast = fast_gpg(&argv(line)).unwrap_or_else(|| panic!("fast path refused {line}"));
            let cli = Cli::try_parse_from(argv(line)).unwrap();
            assert!(cli.command.is_none(), "{line}");
            assert_eq!(fast, cli.gpg, "{line}");
        }
        // Left to clap: subcommands, help, unknown, repeated or malformed flags.
        let declined = [
            "",
            "verify --all",
            "version",
            "--help",
            "-h",
            "--version",
            "-V",
            "--status-fd=x -bsau KEY",
            "--status-fd",
            "-bsau",
            "-bsz KEY",
            "--sign --sign",
            "-s -s",
            "--status-fd=1 --status-fd=2 -v sig",
            "--frobnicate",
            "--verify=yes sig",
            "cache status",
        ];
        for line in declined {
            assert!(fast_gpg(&argv(line)).is_none(), "fast path took {line:?}");
        }
    }
}
