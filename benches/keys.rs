//! Criterion benches for `ann-keys` (placeholder until the crate lands).

fn main() {}
