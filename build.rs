//! The test suite's opt-outs (docs/testing.md): a test that needs root or
//! sigstore-python fails, saying what is missing, unless the variable below
//! was set to 1 when the tests were built; then it is compiled as ignored
//! (`cargo test` lists it as such), never as a silent pass. Nothing else
//! depends on these settings. Both packages of the workspace run this one
//! file (`build = "../build.rs"` in credential-cache/Cargo.toml).

/// (environment variable, cfg it sets).
const OPT_OUTS: &[(&str, &str)] = &[
    ("GITSIGN_TEST_SKIP_ROOT", "gitsign_skip_root"),
    (
        "GITSIGN_TEST_SKIP_SIGSTORE_PYTHON",
        "gitsign_skip_sigstore_python",
    ),
];

fn main() {
    // No rerun-if-changed for this file: cargo reruns a build script whose
    // source changed, and the variables below are all it reads.
    for (var, cfg) in OPT_OUTS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={var}");
        match std::env::var(var).as_deref() {
            Ok("1") => println!("cargo::rustc-cfg={cfg}"),
            Ok("") | Ok("0") | Err(_) => {}
            Ok(other) => println!(
                "cargo::warning={var}={other:?} is not 1: the tests it covers are built to run (set {var}=1 to mark them ignored)"
            ),
        }
    }
}
