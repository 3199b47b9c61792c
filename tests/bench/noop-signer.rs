//! The cheapest possible `gpg.x509.program`: reads the payload, prints a
//! fixed (invalid) signature and the status lines git requires. Timing it
//! through `git commit -S` measures the floor any signing program pays:
//! git's own signing work plus starting a process. Benchmark use only.
use std::io::{Read, Write};

fn main() {
    let mut payload = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut payload);
    let mut out = std::io::stdout();
    let _ = out.write_all(b"-----BEGIN SIGNED MESSAGE-----\nAA==\n-----END SIGNED MESSAGE-----\n");
    let _ = out.flush();
    // git passes --status-fd=2 when signing.
    eprint!("[GNUPG:] BEGIN_SIGNING\n[GNUPG:] SIG_CREATED D 19 8 00 0 00\n");
}
