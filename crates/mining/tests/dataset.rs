//! The MNIST loader on the real files, and on hostile ones.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::path::Path;

use ann_mining::dataset::{FILE_NAMES, TEST_SAMPLES, TRAIN_SAMPLES};
use ann_mining::{DatasetError, Mnist};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

#[test]
fn real_mnist_loads_with_the_documented_shape_and_labels() {
    let data = common::data();
    assert_eq!(data.train().len(), TRAIN_SAMPLES);
    assert_eq!(data.test().len(), TEST_SAMPLES);
    assert_eq!(data.train().images().len(), TRAIN_SAMPLES * 784);
    assert_eq!(
        &data.train().labels()[..10],
        &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    );
    assert_eq!(&data.test().labels()[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    // Every digit occurs in both splits.
    for digit in 0..10u8 {
        assert!(data.train().labels().contains(&digit));
        assert!(data.test().labels().contains(&digit));
    }
}

fn decompress(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(std::fs::File::open(common::mnist_dir().join(name)).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn write_gz(path: &Path, bytes: &[u8]) {
    let mut encoder = GzEncoder::new(std::fs::File::create(path).unwrap(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap();
}

/// A copy of the data directory where file `index` is replaced by `edit(decompressed bytes)`.
fn with_edited(index: usize, edit: impl FnOnce(&mut Vec<u8>)) -> Result<Mnist, DatasetError> {
    let dir = tempfile::tempdir().unwrap();
    let mut edit = Some(edit);
    for (i, name) in FILE_NAMES.iter().enumerate() {
        if i == index {
            let mut bytes = decompress(name);
            if let Some(edit) = edit.take() {
                edit(&mut bytes);
            }
            write_gz(&dir.path().join(name), &bytes);
        } else {
            std::fs::copy(common::mnist_dir().join(name), dir.path().join(name)).unwrap();
        }
    }
    Mnist::load(dir.path())
}

#[test]
fn dataset_hash_is_sha256_of_the_decompressed_files() {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for name in FILE_NAMES {
        hasher.update(decompress(name));
    }
    let expected: [u8; 32] = hasher.finalize().into();
    assert_eq!(common::data().hash().to_bytes(), expected);
    assert_eq!(
        common::data().hash(),
        ann_mining::MNIST_DATASET_HASH,
        "the pinned hash"
    );
    // Recompressing does not change the identity; changing one pixel does.
    let recompressed = with_edited(2, |_| {}).unwrap();
    assert_eq!(recompressed.hash(), common::data().hash());
    let edited = with_edited(2, |b| b[1000] ^= 1).unwrap();
    assert_ne!(edited.hash(), common::data().hash());
}

#[test]
fn truncated_file_is_rejected() {
    let err = with_edited(0, |b| b.truncate(b.len() - 1)).unwrap_err();
    assert!(matches!(err, DatasetError::Truncated { .. }), "{err}");
    let err = with_edited(1, |b| b.truncate(6)).unwrap_err();
    assert!(matches!(err, DatasetError::Truncated { .. }), "{err}");
}

#[test]
fn oversize_file_is_rejected() {
    let err = with_edited(3, |b| b.push(0)).unwrap_err();
    assert!(matches!(err, DatasetError::Oversize { .. }), "{err}");
}

#[test]
fn wrong_magic_is_rejected() {
    // A label file where an image file belongs.
    let err = with_edited(2, |b| b[3] = 0x01).unwrap_err();
    assert!(
        matches!(err, DatasetError::BadMagic { found: 0x801, .. }),
        "{err}"
    );
}

#[test]
fn wrong_dimensions_are_rejected() {
    // 27 rows instead of 28.
    let err = with_edited(0, |b| b[11] = 27).unwrap_err();
    assert!(
        matches!(
            err,
            DatasetError::BadDimension {
                index: 1,
                found: 27,
                ..
            }
        ),
        "{err}"
    );
    // A sample count that would need 4 GiB: rejected from the header, nothing allocated.
    let err = with_edited(0, |b| b[4..8].copy_from_slice(&u32::MAX.to_be_bytes())).unwrap_err();
    assert!(
        matches!(err, DatasetError::BadDimension { index: 0, .. }),
        "{err}"
    );
}

#[test]
fn label_outside_0_to_9_is_rejected() {
    let err = with_edited(3, |b| b[8 + 17] = 10).unwrap_err();
    assert!(
        matches!(
            err,
            DatasetError::BadLabel {
                index: 17,
                value: 10,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn missing_or_non_gzip_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Mnist::load(dir.path()).unwrap_err();
    assert!(matches!(err, DatasetError::Io { .. }), "{err}");
    for name in FILE_NAMES {
        std::fs::write(dir.path().join(name), b"not gzip at all").unwrap();
    }
    let err = Mnist::load(dir.path()).unwrap_err();
    assert!(matches!(err, DatasetError::Io { .. }), "{err}");
}

#[test]
fn a_task_for_other_data_is_refused_by_miner_and_verifier() {
    use std::sync::Arc;
    let data = Arc::new(
        Mnist::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist")).unwrap(),
    );
    let mut task = ann_mining::Task::mnist(data.hash());
    let mut other = task.dataset.to_bytes();
    other[0] ^= 1;
    task.dataset = ann_mining::DatasetHash::from_bytes(other);
    let store = ann_mining::ArtifactStore::open(tempfile::tempdir().unwrap().path()).unwrap();
    let wrong = |e: &ann_mining::TaskError| matches!(e, ann_mining::TaskError::WrongDataset { .. });
    match ann_mining::Miner::new(task.clone(), Arc::clone(&data), store.clone()) {
        Err(ann_mining::MiningError::Task(e)) => assert!(wrong(&e), "{e}"),
        other => panic!("expected a wrong-dataset error, got {other:?}"),
    }
    match ann_mining::TrainingVerifier::new(task, data, store) {
        Err(ann_mining::VerifierSetupError::Task(e)) => assert!(wrong(&e), "{e}"),
        other => panic!("expected a wrong-dataset error, got {other:?}"),
    }
}

#[test]
fn the_networks_pin_the_real_mnist_and_refuse_other_data() {
    let data = common::data();
    for network in [
        ann_mining::NetworkParams::main(),
        ann_mining::NetworkParams::devnet(),
        ann_mining::NetworkParams::regtest(),
    ] {
        assert_eq!(network.dataset(), data.hash(), "{}", network.name());
        assert_eq!(
            network.task().id(),
            ann_mining::Task::mnist(data.hash()).id()
        );
        network.check_data(&data).unwrap();
    }
    let devnet = ann_mining::NetworkParams::devnet();
    assert_eq!(devnet.chain(), &ann_ledger::ChainParams::devnet());
    devnet.load_data(common::mnist_dir()).unwrap();

    // One label changed: valid MNIST files, other data, refused by name.
    let dir = tempfile::tempdir().unwrap();
    for (i, name) in FILE_NAMES.iter().enumerate() {
        if i == 3 {
            let mut bytes = decompress(name);
            let last = bytes.len() - 1;
            bytes[last] = (bytes[last] + 1) % 10;
            write_gz(&dir.path().join(name), &bytes);
        } else {
            std::fs::copy(common::mnist_dir().join(name), dir.path().join(name)).unwrap();
        }
    }
    match devnet.load_data(dir.path()) {
        Err(ann_mining::NetworkError::WrongDataset {
            network: "devnet",
            expected,
            found,
        }) => {
            assert_eq!(expected, data.hash());
            assert_ne!(found, expected);
        }
        other => panic!("expected WrongDataset, got {other:?}"),
    }
    // Files that are not MNIST at all: the loader's own error, under the network's name.
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        devnet.load_data(empty.path()),
        Err(ann_mining::NetworkError::Data {
            network: "devnet",
            ..
        })
    ));
}
