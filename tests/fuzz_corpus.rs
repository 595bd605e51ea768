//! The fuzz targets' corpora, replayed on stable in the normal test run: every seed (a real
//! encoding, from the golden vectors: `fuzz/make_seeds.py`) must be accepted by its target's
//! check, every regression input (a crash a fuzzer found, kept in `fuzz/regressions/`) and
//! every input of the minimized corpora that long runs left (`fuzz/minimized/`, which
//! `scripts/fuzz-long --keep` writes) must pass its check without a panic. The checks are the
//! fuzz targets' own (`fuzz/src/lib.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::path::Path;

fn inputs(folder: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut files: Vec<(String, Vec<u8>)> = entries
        .map(|entry| {
            let path = entry.expect("a readable directory").path();
            let bytes = std::fs::read(&path).expect("a readable input");
            (path.display().to_string(), bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_seed_is_accepted_and_every_kept_input_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (target, check) in checks::TARGETS {
        let seeds = inputs(&root.join("corpus").join(target));
        assert!(!seeds.is_empty(), "{target} has no seed corpus");
        for (path, bytes) in &seeds {
            assert!(check(bytes), "{target}: the seed {path} is refused");
            // One byte more or less is refused, never a panic.
            assert!(!check(&bytes[..bytes.len() - 1]) || target == "wallet_file");
            let mut longer = bytes.clone();
            longer.push(0);
            let _ = check(&longer);
        }
        for folder in ["regressions", "minimized"] {
            for (_, bytes) in inputs(&root.join(folder).join(target)) {
                let _ = check(&bytes);
            }
        }
    }
}

#[test]
fn the_checks_reject_what_is_not_canonical() {
    // A block with a trailing byte decodes to a block whose encoding is shorter: the decoder
    // refuses it, so the check reports it refused rather than failing its own assertion.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/ledger_block");
    let (_, block) = inputs(&root).pop().expect("a block seed");
    let mut trailing = block.clone();
    trailing.push(0);
    assert!(!checks::ledger_block(&trailing));
    assert!(checks::ledger_block(&block));
    assert!(!checks::ledger_block(&[]));
}
