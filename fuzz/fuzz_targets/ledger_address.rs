#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _accepted = blockchain_ann_fuzz::ledger_address(data);
});
