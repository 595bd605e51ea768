//! The request-response messages and their canonical encoding: the ledger's primitives
//! (little-endian integers, `u32` counts checked against a cap and the remaining input before
//! anything is allocated), one tag byte per message kind, no trailing bytes.
//!
//! On a stream a message is a frame: its length as `u32` little-endian, at most
//! [`MAX_REQUEST_FRAME`] for a request and [`MAX_FRAME`] for a response, then the message. A
//! reader checks the length against the cap before it reads, and buffers only what arrives.

use ann_ledger::encoding::Reader;
use ann_ledger::{Block, BlockHash, BlockHeader, Decode, DecodeError, Encode};

/// Most locator hashes in a headers request.
pub const MAX_LOCATOR: usize = 64;
/// Most headers in one response.
pub const MAX_HEADERS: usize = 2_000;
/// Most blocks asked for, or sent, in one request.
pub const MAX_BLOCKS: usize = 4;
/// Largest artifact served (a checkpoint: 1,628,200 bytes).
pub const MAX_ARTIFACT: usize = 1_628_200;
/// Largest frame: four full blocks and their counts.
pub const MAX_FRAME: usize = MAX_BLOCKS * ann_ledger::MAX_BLOCK_SIZE + 64;
/// Largest request frame: a headers request with a full locator (tag, count, hashes, max).
pub const MAX_REQUEST_FRAME: usize = 1 + 4 + MAX_LOCATOR * 32 + 2;

/// Why bytes from a peer are not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The bytes break the canonical encoding (a cap, a length, trailing bytes).
    #[error("malformed message: {0}")]
    Decode(#[from] DecodeError),
    /// An unknown message tag.
    #[error("unknown {what} tag {tag}")]
    UnknownTag {
        /// Request or response.
        what: &'static str,
        /// The tag.
        tag: u8,
    },
    /// A frame announced more bytes than its cap ([`MAX_FRAME`], or [`MAX_REQUEST_FRAME`] for
    /// a request).
    #[error("a frame of {len} bytes is over the {max}-byte cap")]
    FrameTooLarge {
        /// The announced length.
        len: u64,
        /// The cap.
        max: usize,
    },
}

/// A node's view of its chain, exchanged on connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Its genesis hash: nodes of another chain do not talk.
    pub genesis: BlockHash,
    /// Its best block.
    pub tip: BlockHash,
    /// The best block's height.
    pub height: u64,
    /// The best chain's cumulative work.
    pub work: u128,
}

/// Which artifact is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArtifactKind {
    /// A checkpoint, by its weights hash.
    Checkpoint,
    /// An audit proof, by the checkpoint root it opens.
    AuditProof,
}

/// A request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Our status; the answer is the peer's.
    Status(Status),
    /// Headers after the first locator hash on the peer's best chain, up to `max`.
    Headers {
        /// Hashes from our tip backwards (dense, then exponentially sparse), at most
        /// [`MAX_LOCATOR`].
        locator: Vec<BlockHash>,
        /// At most this many headers (capped by [`MAX_HEADERS`]).
        max: u16,
    },
    /// Blocks by hash, at most [`MAX_BLOCKS`].
    Blocks(Vec<BlockHash>),
    /// A training artifact.
    Artifact {
        /// What it is.
        kind: ArtifactKind,
        /// Its hash (weights hash or checkpoint root).
        hash: [u8; 32],
    },
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The requester's genesis is not ours.
    WrongGenesis,
    /// Too many requests.
    RateLimited,
}

/// A response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// The peer's status.
    Status(Status),
    /// Consecutive headers of the peer's best chain.
    Headers(Vec<BlockHeader>),
    /// The blocks the peer has among those asked for, in the order asked.
    Blocks(Vec<Block>),
    /// The artifact's bytes, or `None` if the peer does not have it.
    Artifact(Option<Vec<u8>>),
    /// The request was refused.
    Refused(Refusal),
}

impl Encode for Status {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.genesis.encode_to(out);
        self.tip.encode_to(out);
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&self.work.to_le_bytes());
    }
}

impl Decode for Status {
    fn decode_from(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Status {
            genesis: BlockHash::decode_from(reader)?,
            tip: BlockHash::decode_from(reader)?,
            height: reader.u64("status height")?,
            work: reader.u128("status work")?,
        })
    }
}

fn encode_list<T: Encode>(items: &[T], out: &mut Vec<u8>) {
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for item in items {
        item.encode_to(out);
    }
}

fn decode_list<T: Decode>(
    reader: &mut Reader<'_>,
    what: &'static str,
    max: usize,
    min_item_size: usize,
) -> Result<Vec<T>, DecodeError> {
    let count = reader.count(what, max, min_item_size)?;
    (0..count).map(|_| T::decode_from(reader)).collect()
}

impl Request {
    /// The canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Request::Status(status) => {
                out.push(0);
                status.encode_to(&mut out);
            }
            Request::Headers { locator, max } => {
                out.push(1);
                encode_list(locator, &mut out);
                out.extend_from_slice(&max.to_le_bytes());
            }
            Request::Blocks(hashes) => {
                out.push(2);
                encode_list(hashes, &mut out);
            }
            Request::Artifact { kind, hash } => {
                out.push(3);
                out.push(match kind {
                    ArtifactKind::Checkpoint => 0,
                    ArtifactKind::AuditProof => 1,
                });
                out.extend_from_slice(hash);
            }
        }
        out
    }

    /// Parses exactly `bytes`.
    ///
    /// # Errors
    /// [`WireError`] naming what is malformed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        let mut reader = Reader::new(bytes);
        let request = match reader.u8("request tag")? {
            0 => Request::Status(Status::decode_from(&mut reader)?),
            1 => Request::Headers {
                locator: decode_list(&mut reader, "locator hashes", MAX_LOCATOR, 32)?,
                max: reader.u16("header count")?,
            },
            2 => Request::Blocks(decode_list(&mut reader, "block hashes", MAX_BLOCKS, 32)?),
            3 => {
                let kind = match reader.u8("artifact kind")? {
                    0 => ArtifactKind::Checkpoint,
                    1 => ArtifactKind::AuditProof,
                    tag => {
                        return Err(WireError::UnknownTag {
                            what: "artifact kind",
                            tag,
                        });
                    }
                };
                Request::Artifact {
                    kind,
                    hash: reader.array("artifact hash")?,
                }
            }
            tag => {
                return Err(WireError::UnknownTag {
                    what: "request",
                    tag,
                });
            }
        };
        reader.finish()?;
        Ok(request)
    }
}

impl Response {
    /// The canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Response::Status(status) => {
                out.push(0);
                status.encode_to(&mut out);
            }
            Response::Headers(headers) => {
                out.push(1);
                encode_list(headers, &mut out);
            }
            Response::Blocks(blocks) => {
                out.push(2);
                encode_list(blocks, &mut out);
            }
            Response::Artifact(bytes) => {
                out.push(3);
                match bytes {
                    None => out.push(0),
                    Some(bytes) => {
                        out.push(1);
                        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
                        out.extend_from_slice(bytes);
                    }
                }
            }
            Response::Refused(refusal) => {
                out.push(4);
                out.push(match refusal {
                    Refusal::WrongGenesis => 0,
                    Refusal::RateLimited => 1,
                });
            }
        }
        out
    }

    /// Parses exactly `bytes`.
    ///
    /// # Errors
    /// [`WireError`] naming what is malformed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WireError> {
        let mut reader = Reader::new(bytes);
        let response = match reader.u8("response tag")? {
            0 => Response::Status(Status::decode_from(&mut reader)?),
            1 => Response::Headers(decode_list(
                &mut reader,
                "headers",
                MAX_HEADERS,
                ann_ledger::encoding::HEADER_SIZE,
            )?),
            2 => Response::Blocks(decode_list(
                &mut reader,
                "blocks",
                MAX_BLOCKS,
                ann_ledger::encoding::HEADER_SIZE + 4,
            )?),
            3 => match reader.u8("artifact presence")? {
                0 => Response::Artifact(None),
                1 => {
                    let len = reader.count("artifact bytes", MAX_ARTIFACT, 1)?;
                    Response::Artifact(Some(reader.take("artifact bytes", len)?.to_vec()))
                }
                tag => {
                    return Err(WireError::UnknownTag {
                        what: "artifact presence",
                        tag,
                    });
                }
            },
            4 => Response::Refused(match reader.u8("refusal")? {
                0 => Refusal::WrongGenesis,
                1 => Refusal::RateLimited,
                tag => {
                    return Err(WireError::UnknownTag {
                        what: "refusal",
                        tag,
                    });
                }
            }),
            tag => {
                return Err(WireError::UnknownTag {
                    what: "response",
                    tag,
                });
            }
        };
        reader.finish()?;
        Ok(response)
    }
}

/// Prefixes `message` with its length (a frame).
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + message.len());
    out.extend_from_slice(&(message.len() as u32).to_le_bytes());
    out.extend_from_slice(message);
    out
}

/// Checks a frame's announced length against [`MAX_FRAME`] before anything is allocated.
///
/// # Errors
/// [`WireError::FrameTooLarge`].
pub fn check_frame_len(prefix: [u8; 4]) -> Result<usize, WireError> {
    check_frame_len_within(prefix, MAX_FRAME)
}

/// Checks a frame's announced length against `max` before anything is allocated.
///
/// # Errors
/// [`WireError::FrameTooLarge`].
pub fn check_frame_len_within(prefix: [u8; 4], max: usize) -> Result<usize, WireError> {
    let announced = u32::from_le_bytes(prefix);
    let too_large = WireError::FrameTooLarge {
        len: u64::from(announced),
        max,
    };
    match usize::try_from(announced) {
        Ok(len) if len <= max => Ok(len),
        _ => Err(too_large),
    }
}
