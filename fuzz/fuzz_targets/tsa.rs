#![no_main]
libfuzzer_sys::fuzz_target!(
    init: gitsign_fuzz::init("tsa"),
    |data: &[u8]| gitsign_fuzz::tsa(data)
);
