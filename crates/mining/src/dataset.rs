//! The MNIST data set, read from the four gzip-compressed IDX files, and its identity hash.
//!
//! The loader treats the files as hostile input: every header field is checked against the
//! MNIST shape before anything is allocated, decompression is capped, and a short, long or
//! malformed file is a [`DatasetError`] naming the file and the rule it broke.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};

use crate::kernels::SparseRows;

/// Pixels per image (28 x 28).
pub const IMAGE_PIXELS: usize = 28 * 28;
/// Number of classes (the digits 0 to 9).
pub const CLASSES: usize = 10;
/// Images in the MNIST training set.
pub const TRAIN_SAMPLES: usize = 60_000;
/// Images in the MNIST test set, the held-out evaluation set of the quality gate.
pub const TEST_SAMPLES: usize = 10_000;

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// The four file names, in the order their decompressed bytes enter the dataset hash.
pub const FILE_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

/// Why a data file was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The file could not be opened or read (including corrupt gzip streams).
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The IDX magic number is not the one for this kind of file.
    #[error("{path}: IDX magic is {found:#010x}, expected {expected:#010x}")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The magic number read.
        found: u32,
        /// The magic number required.
        expected: u32,
    },
    /// A dimension in the IDX header differs from the MNIST shape.
    #[error("{path}: IDX dimension {index} is {found}, MNIST requires {expected}")]
    BadDimension {
        /// The file.
        path: PathBuf,
        /// Which dimension (0 = sample count).
        index: usize,
        /// The value read.
        found: u32,
        /// The value required.
        expected: u32,
    },
    /// The file ends before the header says it should.
    #[error(
        "{path}: truncated, {found} bytes after decompression, the IDX header requires {expected}"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Bytes present.
        found: usize,
        /// Bytes required.
        expected: usize,
    },
    /// The file holds more bytes than its header declares.
    #[error("{path}: oversize, more than the {expected} bytes its IDX header declares")]
    Oversize {
        /// The file.
        path: PathBuf,
        /// Bytes declared.
        expected: usize,
    },
    /// A label is not a digit.
    #[error("{path}: label {value} at index {index} is not a digit 0-9")]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// Position of the label.
        index: usize,
        /// The byte found.
        value: u8,
    },
}

/// One split (training or test) of MNIST: raw pixels (row-major, one byte per pixel) and labels.
#[derive(Clone)]
pub struct Split {
    images: Vec<u8>,
    labels: Vec<u8>,
    /// The CPU kernels' sparse form of the images (their nonzero shifted inputs, for one
    /// input shift), built on first use and shared by every trainer and evaluator of the
    /// split: 27 MB for the training split, a few tens of milliseconds to build.
    nonzero: OnceLock<(u32, Arc<SparseRows>)>,
}

impl PartialEq for Split {
    fn eq(&self, other: &Self) -> bool {
        self.images == other.images && self.labels == other.labels
    }
}

impl Eq for Split {}

impl Split {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split has no samples (never true for a loaded MNIST split).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The 784 pixels of sample `index`, or `None` past the end.
    pub fn image(&self, index: usize) -> Option<&[u8]> {
        self.images
            .get(index * IMAGE_PIXELS..(index + 1) * IMAGE_PIXELS)
    }

    /// All pixels, sample after sample.
    pub fn images(&self) -> &[u8] {
        &self.images
    }

    /// All labels (each `0..=9`).
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The nonzero inputs `p >> shift` of every image, in sparse rows: cached for the first
    /// shift asked for (the task's), built afresh for another.
    pub(crate) fn nonzero_inputs(&self, shift: u32) -> Arc<SparseRows> {
        let build = || Arc::new(SparseRows::of_images(&self.images, shift));
        let (cached_shift, rows) = self.nonzero.get_or_init(|| (shift, build()));
        if *cached_shift == shift {
            Arc::clone(rows)
        } else {
            build()
        }
    }
}

impl std::fmt::Debug for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Split")
            .field("samples", &self.len())
            .finish()
    }
}

/// SHA-256 over the decompressed bytes of the four files, in [`FILE_NAMES`] order: the
/// dataset's identity, committed in the task id (the ledger's [`DatasetHash`]).
pub use ann_ledger::DatasetHash;

/// The [`DatasetHash`] of the real MNIST (the four files in `data/mnist`, whose provenance
/// `data/mnist/README.md` records): what the networks' tasks pin.
pub const MNIST_DATASET_HASH: DatasetHash = DatasetHash::from_bytes([
    0xb2, 0xd8, 0xf5, 0xbf, 0x39, 0x17, 0x4e, 0xe5, 0xff, 0xee, 0xfa, 0x97, 0xe4, 0x2d, 0x67, 0x3c,
    0x35, 0x43, 0x2b, 0x41, 0x1b, 0xb5, 0xd1, 0xf7, 0x4f, 0xbb, 0xed, 0xda, 0xe7, 0xf1, 0x69, 0x0a,
]);

/// The full MNIST data set: 60,000 training and 10,000 test images.
#[derive(Clone, Debug)]
pub struct Mnist {
    train: Split,
    test: Split,
    hash: DatasetHash,
}

impl Mnist {
    /// Reads and validates the four `*.gz` files in `dir`.
    ///
    /// # Errors
    /// [`DatasetError`] if a file is missing, unreadable, not gzip, or not an MNIST IDX file of
    /// exactly the expected shape.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, DatasetError> {
        let dir = dir.as_ref();
        let mut hasher = Sha256::new();
        let mut read = |name: &str, magic, dims: &[u32]| -> Result<Vec<u8>, DatasetError> {
            let raw = read_idx(&dir.join(name), magic, dims)?;
            hasher.update(&raw);
            Ok(raw)
        };
        let train_images = read(FILE_NAMES[0], IMAGES_MAGIC, &[TRAIN_SAMPLES as u32, 28, 28])?;
        let train_labels = read(FILE_NAMES[1], LABELS_MAGIC, &[TRAIN_SAMPLES as u32])?;
        let test_images = read(FILE_NAMES[2], IMAGES_MAGIC, &[TEST_SAMPLES as u32, 28, 28])?;
        let test_labels = read(FILE_NAMES[3], LABELS_MAGIC, &[TEST_SAMPLES as u32])?;
        let hash = DatasetHash::from_bytes(hasher.finalize().into());
        Ok(Self {
            train: split(train_images, train_labels, &dir.join(FILE_NAMES[1]))?,
            test: split(test_images, test_labels, &dir.join(FILE_NAMES[3]))?,
            hash,
        })
    }

    /// The training split (the only data training sees).
    pub fn train(&self) -> &Split {
        &self.train
    }

    /// The test split (the held-out evaluation set of the quality gate).
    pub fn test(&self) -> &Split {
        &self.test
    }

    /// The dataset's identity hash.
    pub fn hash(&self) -> DatasetHash {
        self.hash
    }
}

/// Strips the IDX header (after checking it) and returns the data bytes, whose length must
/// equal the product of the dimensions exactly.
fn split(images: Vec<u8>, labels: Vec<u8>, labels_path: &Path) -> Result<Split, DatasetError> {
    let images = images[header_len(3)..].to_vec();
    let labels = labels[header_len(1)..].to_vec();
    if let Some((index, &value)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| **l >= CLASSES as u8)
    {
        return Err(DatasetError::BadLabel {
            path: labels_path.to_path_buf(),
            index,
            value,
        });
    }
    Ok(Split {
        images,
        labels,
        nonzero: OnceLock::new(),
    })
}

fn header_len(rank: usize) -> usize {
    4 + 4 * rank
}

/// Decompresses one IDX file, checking magic and dimensions before reading the body, and
/// refusing to decompress more than the header declares (a gzip bomb stops at the cap).
pub(crate) fn read_idx(path: &Path, magic: u32, dims: &[u32]) -> Result<Vec<u8>, DatasetError> {
    let io = |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut decoder = GzDecoder::new(BufReader::new(file));
    let header_bytes = header_len(dims.len());
    let mut header = vec![0u8; header_bytes];
    let got = read_up_to(&mut decoder, &mut header).map_err(io)?;
    let expected_body: usize = dims.iter().map(|&d| d as usize).product();
    let expected = header_bytes + expected_body;
    if got < header_bytes {
        return Err(DatasetError::Truncated {
            path: path.to_path_buf(),
            found: got,
            expected,
        });
    }
    let found_magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if found_magic != magic {
        return Err(DatasetError::BadMagic {
            path: path.to_path_buf(),
            found: found_magic,
            expected: magic,
        });
    }
    for (index, &want) in dims.iter().enumerate() {
        let at = 4 + 4 * index;
        let found =
            u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
        if found != want {
            return Err(DatasetError::BadDimension {
                path: path.to_path_buf(),
                index,
                found,
                expected: want,
            });
        }
    }
    let mut bytes = header;
    bytes.resize(expected, 0);
    let body = read_up_to(&mut decoder, &mut bytes[header_bytes..]).map_err(io)?;
    if body < expected_body {
        return Err(DatasetError::Truncated {
            path: path.to_path_buf(),
            found: header_bytes + body,
            expected,
        });
    }
    let mut probe = [0u8; 1];
    if read_up_to(&mut decoder, &mut probe).map_err(io)? != 0 {
        return Err(DatasetError::Oversize {
            path: path.to_path_buf(),
            expected,
        });
    }
    Ok(bytes)
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
