#![no_main]
libfuzzer_sys::fuzz_target!(
    init: gitsign_fuzz::init("cache_proto"),
    |data: &[u8]| gitsign_fuzz::cache_proto(data)
);
