//! The wire format: every message round-trips, every cap is enforced before allocating, and
//! no byte string makes a decoder panic.

use ann_ledger::{
    Block, BlockHash, BlockHeader, ChainParams, CheckpointRoot, CompactTarget, Difficulty,
    ModelHash, TaskId, TrainingCommitment,
};
use ann_net::wire::{
    MAX_BLOCKS, MAX_FRAME, MAX_HEADERS, MAX_LOCATOR, MAX_REQUEST_FRAME, check_frame_len,
    check_frame_len_within, frame,
};
use ann_net::{ArtifactKind, Refusal, Request, Response, Status, WireError};
use proptest::prelude::*;

fn genesis() -> Block {
    ChainParams::new(Vec::new(), 1_700_000_000, Difficulty::regtest()).genesis_block()
}

fn header(i: u8) -> BlockHeader {
    BlockHeader {
        version: 1,
        height: u64::from(i),
        prev_hash: BlockHash::from_bytes([i; 32]),
        merkle_root: ann_ledger::MerkleRoot::from_bytes([i.wrapping_add(1); 32]),
        timestamp: 1_700_000_000 + u64::from(i),
        bits: CompactTarget::MAX,
        training: TrainingCommitment {
            task_id: TaskId::from_bytes([2; 32]),
            steps: 100,
            checkpoint_root: CheckpointRoot::from_bytes([3; 32]),
            model_hash: ModelHash::from_bytes([4; 32]),
        },
    }
}

fn status() -> Status {
    Status {
        genesis: genesis().hash(),
        tip: BlockHash::from_bytes([9; 32]),
        height: 42,
        work: 1 << 100,
    }
}

fn requests() -> Vec<Request> {
    vec![
        Request::Status(status()),
        Request::Headers {
            locator: (0..MAX_LOCATOR as u8)
                .map(|i| BlockHash::from_bytes([i; 32]))
                .collect(),
            max: 2_000,
        },
        Request::Blocks(vec![BlockHash::from_bytes([1; 32]); MAX_BLOCKS]),
        Request::Artifact {
            kind: ArtifactKind::Checkpoint,
            hash: [5; 32],
        },
        Request::Artifact {
            kind: ArtifactKind::AuditProof,
            hash: [6; 32],
        },
    ]
}

fn responses() -> Vec<Response> {
    vec![
        Response::Status(status()),
        Response::Headers((0..10).map(header).collect()),
        Response::Blocks(vec![genesis(), genesis()]),
        Response::Artifact(None),
        Response::Artifact(Some(vec![7; 1000])),
        Response::Refused(Refusal::WrongGenesis),
        Response::Refused(Refusal::RateLimited),
    ]
}

#[test]
fn every_message_round_trips_and_rejects_trailing_or_missing_bytes() {
    for request in requests() {
        let bytes = request.to_bytes();
        assert_eq!(Request::from_bytes(&bytes), Ok(request.clone()));
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            Request::from_bytes(&long),
            Err(WireError::Decode(_))
        ));
        assert!(Request::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }
    for response in responses() {
        let bytes = response.to_bytes();
        assert_eq!(Response::from_bytes(&bytes), Ok(response.clone()));
        let mut long = bytes.clone();
        long.push(0);
        assert!(Response::from_bytes(&long).is_err());
        assert!(Response::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }
}

#[test]
fn counts_over_their_caps_are_refused_before_allocating() {
    // A locator of MAX_LOCATOR + 1 hashes.
    let too_many = Request::Headers {
        locator: vec![BlockHash::ZERO; MAX_LOCATOR + 1],
        max: 1,
    };
    assert!(matches!(
        Request::from_bytes(&too_many.to_bytes()),
        Err(WireError::Decode(
            ann_ledger::DecodeError::CountTooLarge { .. }
        ))
    ));
    // A header list announcing u32::MAX entries with nothing behind it.
    let mut huge = vec![1u8];
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Response::from_bytes(&huge),
        Err(WireError::Decode(
            ann_ledger::DecodeError::CountTooLarge { .. }
        ))
    ));
    // MAX_HEADERS announced but too few bytes for them.
    let mut short = vec![1u8];
    short.extend_from_slice(&(MAX_HEADERS as u32).to_le_bytes());
    assert!(matches!(
        Response::from_bytes(&short),
        Err(WireError::Decode(_))
    ));
    // Five blocks asked for.
    let five = Request::Blocks(vec![BlockHash::ZERO; MAX_BLOCKS + 1]);
    assert!(Request::from_bytes(&five.to_bytes()).is_err());
    // An artifact past the checkpoint size.
    let mut artifact = vec![3u8, 1];
    artifact.extend_from_slice(&(1_628_201u32).to_le_bytes());
    assert!(Response::from_bytes(&artifact).is_err());
    // A frame past the cap.
    assert_eq!(
        check_frame_len(((MAX_FRAME + 1) as u32).to_le_bytes()),
        Err(WireError::FrameTooLarge {
            len: MAX_FRAME as u64 + 1,
            max: MAX_FRAME
        })
    );
    // The largest request is a headers request with a full locator, and it fits its cap
    // exactly: a request frame any longer is refused before it is read.
    let largest = Request::Headers {
        locator: vec![BlockHash::ZERO; MAX_LOCATOR],
        max: u16::MAX,
    };
    assert_eq!(largest.to_bytes().len(), MAX_REQUEST_FRAME);
    assert!(
        check_frame_len_within((MAX_REQUEST_FRAME as u32).to_le_bytes(), MAX_REQUEST_FRAME).is_ok()
    );
    assert!(matches!(
        check_frame_len_within(
            ((MAX_REQUEST_FRAME + 1) as u32).to_le_bytes(),
            MAX_REQUEST_FRAME
        ),
        Err(WireError::FrameTooLarge { .. })
    ));
    assert_eq!(
        check_frame_len((MAX_FRAME as u32).to_le_bytes()),
        Ok(MAX_FRAME)
    );
    let framed = frame(b"abc");
    assert_eq!(&framed[..4], &3u32.to_le_bytes());
}

#[test]
fn unknown_tags_are_named() {
    assert_eq!(
        Request::from_bytes(&[9]),
        Err(WireError::UnknownTag {
            what: "request",
            tag: 9
        })
    );
    assert_eq!(
        Response::from_bytes(&[4, 7]),
        Err(WireError::UnknownTag {
            what: "refusal",
            tag: 7
        })
    );
    let mut artifact = vec![3u8, 2];
    artifact.extend_from_slice(&[0; 32]);
    assert_eq!(
        Request::from_bytes(&artifact),
        Err(WireError::UnknownTag {
            what: "artifact kind",
            tag: 2
        })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Random bytes never panic a decoder, and whatever decodes re-encodes to the same bytes
    /// (one encoding per message).
    #[test]
    fn decoders_never_panic_and_are_canonical(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(request) = Request::from_bytes(&bytes) {
            prop_assert_eq!(request.to_bytes(), bytes.clone());
        }
        if let Ok(response) = Response::from_bytes(&bytes) {
            prop_assert_eq!(response.to_bytes(), bytes);
        }
    }

    /// Valid messages with one byte flipped never panic either.
    #[test]
    fn mutated_messages_never_panic(index in any::<prop::sample::Index>(), flip in 1u8..=255, which in 0usize..12) {
        let mut bytes = if which < 5 {
            requests()[which].to_bytes()
        } else {
            responses()[which - 5].to_bytes()
        };
        let i = index.index(bytes.len());
        bytes[i] ^= flip;
        let _ = Request::from_bytes(&bytes);
        let _ = Response::from_bytes(&bytes);
    }
}

/// The encodings of the sample messages, pinned in `tests/vectors/wire.json` (regenerate
/// with `ANN_WRITE_VECTORS=1` only for a deliberate protocol change, with a new protocol
/// version).
#[test]
fn golden_vectors() {
    let mut actual = std::collections::BTreeMap::new();
    for (i, request) in requests().iter().enumerate() {
        actual.insert(format!("request_{i}"), hex(&request.to_bytes()));
    }
    for (i, response) in responses().iter().enumerate() {
        let bytes = response.to_bytes();
        // Blocks responses are long: pin their hash.
        let value = if bytes.len() > 2_000 {
            format!("sha256:{}", hex(&ann_ledger::hash::sha256(&[&bytes])))
        } else {
            hex(&bytes)
        };
        actual.insert(format!("response_{i}"), value);
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/wire.json");
    if std::env::var_os("ANN_WRITE_VECTORS").is_some() {
        let json: String = actual
            .iter()
            .map(|(k, v)| format!("  \"{k}\": \"{v}\""))
            .collect::<Vec<_>>()
            .join(",\n");
        std::fs::write(&path, format!("{{\n{json}\n}}\n")).expect("write vectors");
    }
    let stored = std::fs::read_to_string(&path).expect("tests/vectors/wire.json");
    for (name, value) in &actual {
        assert!(
            stored.contains(&format!("\"{name}\": \"{value}\"")),
            "golden vector {name} changed"
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
