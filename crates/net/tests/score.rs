//! The verdict table and the decaying scores.

use std::time::{Duration, Instant};

use ann_ledger::{BlockError, BlockHash, ChainError, MempoolError, TxError};
use ann_net::score::{BAN, MALFORMED, MINOR};
use ann_net::{PeerScores, Verdict, block_verdict, transaction_verdict};

fn invalid(source: BlockError) -> ChainError {
    ChainError::InvalidBlock {
        hash: BlockHash::ZERO,
        source: Box::new(source),
    }
}

#[test]
fn only_what_the_sender_is_responsible_for_is_penalised() {
    // Not offences.
    assert_eq!(
        block_verdict(&invalid(BlockError::UnknownParent(BlockHash::ZERO))),
        Verdict::Ignore
    );
    assert_eq!(
        block_verdict(&invalid(BlockError::TimestampTooFarAhead {
            timestamp: 10,
            max: 5
        })),
        Verdict::Ignore
    );
    assert_eq!(
        block_verdict(&ChainError::CorruptStore("ours".into())),
        Verdict::Ignore
    );
    // Minor: a branch too old to store.
    assert_eq!(
        block_verdict(&invalid(BlockError::TooLittleWork {
            work: 1,
            floor: 2,
            depth: 100
        })),
        Verdict::Reject { penalty: MINOR }
    );
    // A bogus proof, a ticket above the target, a bad body: banned at once.
    let proof_error: Box<dyn std::error::Error + Send + Sync> = "bad proof".into();
    for rule in [
        BlockError::ProofPrecheck(proof_error),
        BlockError::MissingCoinbase,
        BlockError::UnsupportedVersion(9),
    ] {
        assert_eq!(
            block_verdict(&invalid(rule)),
            Verdict::Reject { penalty: BAN }
        );
    }
    // Transactions.
    assert_eq!(
        transaction_verdict(&MempoolError::PoolFull { max_bytes: 1 }),
        Verdict::Ignore
    );
    assert_eq!(
        transaction_verdict(&MempoolError::Invalid(TxError::BadSignature {
            input: 0,
            kind: ann_ledger::KeyKind::Ed25519
        })),
        Verdict::Reject { penalty: 20 }
    );
    assert_eq!(MALFORMED, Verdict::Reject { penalty: BAN });
}

#[test]
fn scores_decay_bans_expire_and_memory_is_pruned() {
    let mut scores = PeerScores::new(Duration::from_secs(100), Duration::from_secs(1_000));
    let t0 = Instant::now();
    let peer = 7u32;
    // Five minor faults spread out: never banned, the score recovers in between.
    for i in 0..5 {
        let banned = scores.apply(
            &peer,
            Verdict::Reject { penalty: MINOR },
            t0 + Duration::from_secs(100 * i),
        );
        assert!(!banned);
    }
    assert!(scores.score(&peer, t0 + Duration::from_secs(400)) > -20.0);
    // Ten minor faults at once: banned.
    let mut banned = false;
    for _ in 0..10 {
        banned = scores.apply(
            &peer,
            Verdict::Reject { penalty: MINOR },
            t0 + Duration::from_secs(500),
        );
    }
    assert!(banned);
    assert!(scores.is_banned(&peer, t0 + Duration::from_secs(1_499)));
    assert!(!scores.is_banned(&peer, t0 + Duration::from_secs(1_501)));
    // Accept and Ignore cost nothing.
    let other = 8u32;
    assert!(!scores.apply(&other, Verdict::Accept, t0));
    assert!(!scores.apply(&other, Verdict::Ignore, t0));
    assert_eq!(scores.score(&other, t0), 0.0);
    // One malformed message bans.
    assert!(scores.apply(&other, MALFORMED, t0));
    scores.prune(t0 + Duration::from_secs(100_000));
    assert_eq!(scores.score(&peer, t0 + Duration::from_secs(100_000)), 0.0);
    assert!(!scores.is_banned(&other, t0 + Duration::from_secs(100_000)));
}
