//! Feature unification for the workspace's builds; no code. See this crate's `Cargo.toml`.
