#![no_main]
libfuzzer_sys::fuzz_target!(
    init: gitsign_fuzz::init("x509"),
    |data: &[u8]| gitsign_fuzz::x509(data)
);
