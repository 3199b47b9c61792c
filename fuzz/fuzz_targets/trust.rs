#![no_main]
libfuzzer_sys::fuzz_target!(
    init: gitsign_fuzz::init("trust"),
    |data: &[u8]| gitsign_fuzz::trust(data)
);
