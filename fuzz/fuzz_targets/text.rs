#![no_main]
libfuzzer_sys::fuzz_target!(
    init: gitsign_fuzz::init("text"),
    |data: &[u8]| gitsign_fuzz::text(data)
);
