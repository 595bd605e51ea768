//! `ann-ledger` (work in progress).
