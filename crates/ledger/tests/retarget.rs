//! The retarget rule in a deterministic simulation (tickets as a Poisson process, the
//! network's hash rate stepping 10x up and down): after each step settles, the mean block
//! interval is within 5 % of the chain's parameter.

use ann_ledger::target::simulation::{Phase, SimulatedBlock, simulate};
use ann_ledger::{CompactTarget, Difficulty, Retarget};

fn main_like() -> Difficulty {
    Difficulty {
        initial: CompactTarget::from_expected_tickets(5_000),
        limit: CompactTarget::MAX,
        block_interval_secs: 60,
        retarget: Retarget::Asert {
            half_life_secs: 3_600,
        },
        max_future_drift_secs: 150,
    }
}

/// Mean interval of `blocks` after skipping the first `settle`.
fn settled_mean(blocks: &[SimulatedBlock], settle: usize) -> f64 {
    let tail = &blocks[settle..];
    tail.iter().map(|b| b.interval).sum::<f64>() / tail.len() as f64
}

#[test]
fn mean_interval_stays_within_five_percent_through_10x_steps() {
    let difficulty = main_like();
    // At 5,000 expected tickets and 60 s, the schedule's rate is 83.3 tickets a second.
    let base = 5_000.0 / 60.0;
    let rates = [base, base * 10.0, base, base / 10.0, base];
    let phase_blocks = 5_000;
    let phases: Vec<Phase> = rates
        .iter()
        .map(|&tickets_per_sec| Phase {
            blocks: phase_blocks,
            tickets_per_sec,
        })
        .collect();
    for seed in [1u64, 2, 3] {
        let blocks = simulate(&difficulty, &phases, seed);
        assert_eq!(blocks.len(), rates.len() * phase_blocks);
        for (i, phase) in blocks.chunks(phase_blocks).enumerate() {
            // A 10x step needs log2(10) half-lives (about 200 blocks) to settle; skip 1,000.
            let mean = settled_mean(phase, 1_000);
            assert!(
                (mean - 60.0).abs() < 3.0,
                "seed {seed}, phase {i} ({:.1} tickets/s): mean interval {mean:.2} s",
                rates[i]
            );
        }
        // Right after a 10x step up, blocks come faster than the schedule (the rule is
        // not clairvoyant): a test that could fail if the simulation ignored the hash rate.
        let first = &blocks[phase_blocks..phase_blocks + 20];
        let mean_first = first.iter().map(|b| b.interval).sum::<f64>() / first.len() as f64;
        assert!(mean_first < 30.0, "seed {seed}: {mean_first:.1} s");
    }
}

#[test]
fn a_fixed_target_does_not_follow_the_hash_rate() {
    let mut difficulty = main_like();
    difficulty.retarget = Retarget::Fixed;
    let base = 5_000.0 / 60.0;
    let blocks = simulate(
        &difficulty,
        &[Phase {
            blocks: 4_000,
            tickets_per_sec: base * 10.0,
        }],
        7,
    );
    let mean = settled_mean(&blocks, 1_000);
    assert!((mean - 6.0).abs() < 0.5, "{mean}");
}
