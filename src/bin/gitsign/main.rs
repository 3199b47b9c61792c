//! `gitsign`: git's `gpg.x509.program`, plus `verify`, `verify-tag`,
//! `verify-bundle`, `show`, `attest`, `initialize` and `version`. A thin layer over the library: argument
//! parsing, exit codes, where output goes.

/// `println!` for lines that may carry input (subjects, claims, names):
/// control and bidi characters are escaped so input cannot redraw the
/// terminal (see `gitsign::encoding::text`). A stdout that cannot be written ends
/// the program with a sentence (see [`stdout_line`]).
macro_rules! say {
    ($($t:tt)*) => { $crate::stdout_line(&gitsign::encoding::text::printable(&format!($($t)*))) };
}

/// `eprintln!` with the same escaping as [`say!`].
macro_rules! tell {
    ($($t:tt)*) => { eprintln!("{}", gitsign::encoding::text::printable(&format!($($t)*))) };
}

mod args;
mod attest_cmd;
mod cache_cmd;
mod generate_cmd;
mod gpgmode;
mod hook_cmd;
mod show_cmd;
mod signmode;
mod trust_cmd;
mod verify_cmd;

use std::process::ExitCode;

use clap::Parser;

/// Exit statuses (gpg's convention: 1 = bad signature, 2 = other errors).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// A signature is bad, untrusted, or rejected by policy.
    pub const INVALID: u8 = 1;
    /// Could not decide: bad input, configuration, unreachable service.
    pub const ERROR: u8 = 2;
}

/// Writes one line to stdout. When stdout is gone (a reader such as
/// `head` closed the pipe) gitsign stops quietly with status 2, as the
/// rest of its output cannot be delivered; any other write error is said.
pub fn stdout_line(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}") {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            error(format!("cannot write to stdout: {e}"));
        }
        std::process::exit(exit::ERROR.into());
    }
}

/// Prints an error sentence to stderr.
pub fn error(msg: impl std::fmt::Display) {
    tell!("gitsign: {msg}");
}

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(gpg) = args::fast_gpg(&argv) {
        return ExitCode::from(gpgmode::run(&gpg));
    }
    let cli = match args::Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::ERROR
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if cli.version {
        return ExitCode::from(verify_cmd::version());
    }
    ExitCode::from(match cli.command {
        Some(args::Command::Verify(a)) => verify_cmd::verify_commits(&a),
        Some(args::Command::VerifyTag(a)) => verify_cmd::verify_tag(&a),
        Some(args::Command::VerifyBundle(a)) => verify_cmd::verify_bundle(&a),
        Some(args::Command::Policy(args::PolicyCommand::Check { file })) => {
            hook_cmd::policy_check(&file)
        }
        Some(args::Command::Hook(h)) => hook_cmd::run(&h),
        Some(args::Command::Cache(c)) => cache_cmd::run(&c),
        Some(args::Command::ExportBundle(a)) => verify_cmd::export_bundle(&a),
        Some(args::Command::Initialize(a)) => trust_cmd::initialize(&a),
        Some(args::Command::Show(a)) => show_cmd::run(&a),
        Some(args::Command::Attest(a)) => attest_cmd::run(&a),
        Some(args::Command::Version) => verify_cmd::version(),
        Some(args::Command::Completions { shell }) => generate_cmd::completions(shell),
        Some(args::Command::Man { dir }) => generate_cmd::man(&dir),
        None => gpgmode::run(&cli.gpg),
    })
}
