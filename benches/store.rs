//! Criterion benches for `ann-store` (placeholder until the crate lands).

fn main() {}
