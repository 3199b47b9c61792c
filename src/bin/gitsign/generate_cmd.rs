//! `gitsign completions SHELL` and `gitsign man DIR`: shell completions
//! and manual pages generated from the command-line definitions (gitsign's
//! and the cache daemon's), so they never disagree with `--help`.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use crate::args::{Cli, CompletionShell};
use crate::exit;

/// Prints the completion script for `shell` on stdout.
pub fn completions(shell: CompletionShell) -> u8 {
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "gitsign", &mut script);
    let mut out = std::io::stdout().lock();
    match out.write_all(&script).and_then(|()| out.flush()) {
        Ok(()) => exit::OK,
        Err(e) => {
            crate::error(format!("cannot write the completion script to stdout: {e}"));
            exit::ERROR
        }
    }
}

/// The manual pages as (file name, roff text): `gitsign.1`, one page per
/// subcommand (`gitsign-verify.1`, `gitsign-cache-status.1`, ...) and
/// `gitsign-credential-cache.1`.
pub fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
        let man = clap_mangen::Man::new(cmd.clone()).manual("gitsign manual");
        let mut text = Vec::new();
        man.render(&mut text)?;
        out.push((man.get_filename(), text));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, out)?;
        }
        Ok(())
    }
    let mut out = Vec::new();
    let mut cli = Cli::command().disable_help_subcommand(true);
    // Gives each subcommand its display name (gitsign-verify, ...).
    cli.build();
    walk(&cli, &mut out)?;
    let mut daemon = gitsign::cache::daemon_cli::DaemonCli::command();
    daemon.build();
    walk(&daemon, &mut out)?;
    Ok(out)
}

/// Writes every manual page into `dir` (created if missing) and prints
/// each path written.
pub fn man(dir: &Path) -> u8 {
    let pages = match pages() {
        Ok(p) => p,
        Err(e) => {
            crate::error(format!("cannot render the manual pages: {e}"));
            return exit::ERROR;
        }
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        crate::error(format!(
            "cannot create the directory {} for the manual pages: {e}; name a directory you can \
             write to",
            dir.display()
        ));
        return exit::ERROR;
    }
    for (name, text) in pages {
        let path = dir.join(&name);
        if let Err(e) = std::fs::write(&path, text) {
            crate::error(format!(
                "cannot write the manual page {}: {e}; name a directory you can write to",
                path.display()
            ));
            return exit::ERROR;
        }
        say!("{}", path.display());
    }
    exit::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_for_gitsign_each_subcommand_and_the_daemon() {
        let pages = pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        for want in [
            "gitsign.1",
            "gitsign-verify.1",
            "gitsign-verify-tag.1",
            "gitsign-cache-status.1",
            "gitsign-hook-pre-receive.1",
            "gitsign-completions.1",
            "gitsign-man.1",
            "gitsign-credential-cache.1",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
        // Every subcommand of the definition has its page.
        let mut cli = Cli::command().disable_help_subcommand(true);
        cli.build();
        for sub in cli.get_subcommands() {
            let want = format!("gitsign-{}.1", sub.get_name());
            assert!(names.contains(&want.as_str()), "{want} missing");
        }
    }
}
