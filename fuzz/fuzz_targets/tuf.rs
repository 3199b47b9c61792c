#![no_main]
libfuzzer_sys::fuzz_target!(
    init: gitsign_fuzz::init("tuf"),
    |data: &[u8]| gitsign_fuzz::tuf(data)
);
