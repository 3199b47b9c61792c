#![no_main]
libfuzzer_sys::fuzz_target!(
    init: gitsign_fuzz::init("sct"),
    |data: &[u8]| gitsign_fuzz::sct(data)
);
