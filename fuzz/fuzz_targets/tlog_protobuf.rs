#![no_main]
libfuzzer_sys::fuzz_target!(
    init: gitsign_fuzz::init("tlog_protobuf"),
    |data: &[u8]| gitsign_fuzz::tlog_protobuf(data)
);
