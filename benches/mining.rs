//! Criterion benches for `ann-mining` (placeholder until the crate lands).

fn main() {}
