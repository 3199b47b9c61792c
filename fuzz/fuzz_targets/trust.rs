#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| gitsign_fuzz::trust(data));
