//! Peer scoring: one table from each validation error to a verdict, and decaying per-peer
//! scores with a ban threshold (Lighthouse's model, simplified).
//!
//! Only what the sender is responsible for is penalised: a block whose parent we lack, a
//! transaction that conflicts with our pool or pays less than our own policy, a timestamp a
//! little ahead of our clock, are not offences. A block or transaction that breaks a consensus
//! rule costs its sender nothing to make and us real work to check, so one is enough to ban.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use ann_ledger::{BlockError, ChainError, MempoolError};

/// What to do about a message from a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: relay it.
    Accept,
    /// Not relayed, no fault of the sender.
    Ignore,
    /// Not relayed, and the sender loses `penalty` points.
    Reject {
        /// Points lost.
        penalty: u32,
    },
}

/// Points that ban a peer at once.
pub const BAN: u32 = 100;
/// Points for a fault that may be honest once but not repeatedly (a request flood, a stale
/// artifact).
pub const MINOR: u32 = 10;

/// The verdict on a block the chain refused (or failed to import).
pub fn block_verdict(error: &ChainError) -> Verdict {
    let Some(rule) = error.block_error() else {
        // Our store or our state failed: not the sender's doing.
        return Verdict::Ignore;
    };
    match rule {
        // We may simply be behind: sync fetches the parent.
        BlockError::UnknownParent(_) => Verdict::Ignore,
        // Clocks differ; Bitcoin Core does not ban for it either.
        BlockError::TimestampTooFarAhead { .. } => Verdict::Ignore,
        // An honest node may still be on a branch we consider too old.
        BlockError::TooLittleWork { .. } | BlockError::ForksBelowFinality { .. } => {
            Verdict::Reject { penalty: MINOR }
        }
        // Everything else breaks a rule the sender could check before sending.
        _ => Verdict::Reject { penalty: BAN },
    }
}

/// The verdict on a transaction the pool refused.
pub fn transaction_verdict(error: &MempoolError) -> Verdict {
    match error {
        MempoolError::AlreadyInPool(_)
        | MempoolError::Conflict { .. }
        | MempoolError::FeeTooLow { .. }
        | MempoolError::TooManyAncestors { .. }
        | MempoolError::TooManyDescendants { .. }
        | MempoolError::PoolFull { .. } => Verdict::Ignore,
        // Our store failed: not the sender's doing.
        MempoolError::ChainUnavailable(_) => Verdict::Ignore,
        // An input we do not know may be in a block we have not seen yet.
        MempoolError::Invalid(ann_ledger::TxError::UnknownInput { .. }) => Verdict::Ignore,
        MempoolError::Coinbase | MempoolError::Invalid(_) => Verdict::Reject { penalty: 20 },
        // A reason added to the pool later: not punished until this table names it.
        _ => Verdict::Ignore,
    }
}

/// The verdict on bytes that are not a valid message (gossip or request-response), or a peer
/// of another chain.
pub const MALFORMED: Verdict = Verdict::Reject { penalty: BAN };

/// Decaying scores per peer. A score starts at 0, loses a verdict's penalty, recovers towards 0
/// with a half-life, and a peer at or below `-BAN` is banned for `ban_for`.
#[derive(Debug)]
pub struct PeerScores<P> {
    scores: HashMap<P, (f64, Instant)>,
    banned: HashMap<P, Instant>,
    half_life: Duration,
    ban_for: Duration,
}

impl<P: Eq + Hash + Clone> PeerScores<P> {
    /// Scores recovering with `half_life`, bans lasting `ban_for`.
    pub fn new(half_life: Duration, ban_for: Duration) -> Self {
        PeerScores {
            scores: HashMap::new(),
            banned: HashMap::new(),
            half_life,
            ban_for,
        }
    }

    /// The peer's score at `now`.
    pub fn score(&self, peer: &P, now: Instant) -> f64 {
        self.scores
            .get(peer)
            .map_or(0.0, |&(value, at)| self.decayed(value, at, now))
    }

    fn decayed(&self, value: f64, at: Instant, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(at).as_secs_f64();
        value * 0.5f64.powf(elapsed / self.half_life.as_secs_f64().max(1e-9))
    }

    /// Applies `verdict` to `peer` at `now`; returns whether the peer is now banned.
    pub fn apply(&mut self, peer: &P, verdict: Verdict, now: Instant) -> bool {
        if let Verdict::Reject { penalty } = verdict {
            let value = self.score(peer, now) - f64::from(penalty);
            self.scores.insert(peer.clone(), (value, now));
            if value <= -f64::from(BAN) {
                self.banned.insert(peer.clone(), now + self.ban_for);
            }
        }
        self.is_banned(peer, now)
    }

    /// Whether `peer` is banned at `now`.
    pub fn is_banned(&self, peer: &P, now: Instant) -> bool {
        self.banned.get(peer).is_some_and(|&until| now < until)
    }

    /// Forgets expired bans and scores that have decayed to nothing (bounded memory).
    pub fn prune(&mut self, now: Instant) {
        self.banned.retain(|_, until| now < *until);
        let half_life = self.half_life;
        self.scores.retain(|_, (value, at)| {
            let elapsed = now.saturating_duration_since(*at).as_secs_f64();
            (*value * 0.5f64.powf(elapsed / half_life.as_secs_f64().max(1e-9))).abs() > 0.5
        });
    }
}
