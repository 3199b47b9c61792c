//! `gitsign show`: Go gitsign's in-toto statement for a commit or an
//! annotated tag (see `gitsign::git::show`).

use std::io::Write;

use crate::args::ShowArgs;
use crate::exit;

/// Runs `gitsign show`: the statement on stdout in one write, or a
/// sentence on stderr and status 2.
pub fn run(a: &ShowArgs) -> u8 {
    match statement(a) {
        Ok(json) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(json.as_bytes()).and_then(|_| out.flush()) {
                Ok(()) => exit::OK,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::ERROR,
                Err(e) => {
                    crate::error(format!("cannot write to stdout: {e}"));
                    exit::ERROR
                }
            }
        }
        Err(e) => {
            crate::error(e);
            exit::ERROR
        }
    }
}

fn statement(a: &ShowArgs) -> Result<String, String> {
    let repo = gitsign::git::discover_repo()?;
    let git = gitsign::git::Git::new();
    gitsign::git::check_revision(&a.revision).map_err(|e| e.0)?;
    // As for `gitsign verify`: no ambiguous short name, no tag ref naming
    // another tag.
    gitsign::git::revs::check_revisions(&git, std::slice::from_ref(&a.revision))
        .map_err(|e| e.0)?;
    let obj = repo
        .rev_parse_single(a.revision.as_str())
        .map_err(|e| format!("cannot resolve \"{}\": {e}", a.revision))?
        .object()
        .map_err(|e| format!("cannot read {}: {e}", a.revision))?;
    // An annotated tag is shown as the tag; anything else as the commit it
    // names (a lightweight tag, a branch), as Go gitsign does.
    let id = if obj.kind == gix::object::Kind::Tag {
        obj.id
    } else {
        obj.peel_to_kind(gix::object::Kind::Commit)
            .map_err(|e| {
                format!(
                    "\"{}\" names neither a commit nor an annotated tag: {e}",
                    a.revision
                )
            })?
            .id
    };
    let hex = id.to_hex().to_string();
    if hex.len() != 40 {
        return Err(format!(
            "{} is a SHA-256 object; the statement carries SHA-1 digests only, as Go gitsign's",
            a.revision
        ));
    }
    // Read again by id, checked against it.
    let o = gitsign::git::read_object(&repo, id)?;
    let url = remote_url(&git, &a.remote)?;
    let made = if o.kind == "tag" {
        gitsign::git::show::tag_statement(&o.data, &hex, &url)
    } else {
        gitsign::git::show::commit_statement(&o.data, &hex, &url)
    };
    made.map_err(|e| format!("cannot show {}: {e}", a.revision))
}

/// The first URL of `remote` in the repository's own configuration (where
/// Go gitsign looks), or "" when it has none.
fn remote_url(git: &gitsign::git::Git, remote: &str) -> Result<String, String> {
    let key = format!("remote.{remote}.url");
    // The key starts with "remote.", so git cannot read it as an option.
    let (code, out) = git
        .status_output(&["config", "--local", "--get-all", &key])
        .map_err(|e| e.0)?;
    if code != Some(0) {
        // Not set, or not a name a remote can have: no URL, as in Go.
        return Ok(String::new());
    }
    let text = String::from_utf8_lossy(&out);
    Ok(text.lines().next().unwrap_or_default().to_string())
}
