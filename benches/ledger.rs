//! Criterion benches for `ann-ledger` (placeholder until the crate lands).

fn main() {}
