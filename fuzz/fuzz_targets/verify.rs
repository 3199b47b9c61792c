#![no_main]
libfuzzer_sys::fuzz_target!(
    init: gitsign_fuzz::init("verify"),
    |data: &[u8]| gitsign_fuzz::verify(data)
);
