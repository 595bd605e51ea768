//! `ann-keys` (work in progress).
