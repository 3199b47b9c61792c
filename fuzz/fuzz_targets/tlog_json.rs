#![no_main]
libfuzzer_sys::fuzz_target!(
    init: gitsign_fuzz::init("tlog_json"),
    |data: &[u8]| gitsign_fuzz::tlog_json(data)
);
