#![no_main]
libfuzzer_sys::fuzz_target!(
    init: gitsign_fuzz::init("bundle"),
    |data: &[u8]| gitsign_fuzz::bundle(data)
);
