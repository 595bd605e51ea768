//! `ann-mining` (work in progress).
