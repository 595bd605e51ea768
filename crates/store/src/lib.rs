//! `ann-store` (work in progress).
