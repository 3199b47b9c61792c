#![no_main]
libfuzzer_sys::fuzz_target!(
    init: gitsign_fuzz::init("cms"),
    |data: &[u8]| gitsign_fuzz::cms(data)
);
