//! How many steps honest training needs to reach each accuracy target: the measurement behind
//! the task's step floors (`Task::step_floors`, `docs/proof-of-training.md` section 5).
//!
//! For `--runs` block seeds it trains from the block's W0 with the task's own data order,
//! evaluates every `eval_interval` steps up to `--max-steps`, and records the first evaluation
//! that reaches each target. It prints, per target, the minimum, the 10th, 50th and 90th
//! percentiles and the maximum over the runs (runs that never reach a target count as
//! "not reached"), and per run the fewest live backward entries of any segment (the
//! measurement behind the liveness floor, `Task::min_live_permille`).
//!
//! `cargo build --release --workspace --examples && target/release/examples/steps_to_target`

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;

use ann_mining::trace::segment_key;
use ann_mining::training::{Evaluator, Trainer};
use ann_mining::{Backend, Mnist, Task, Weights};
use sha2::{Digest, Sha256};

/// See `measure.rs`: glibc's malloc returns the per-step tensors to the kernel.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TARGETS_BP: [u16; 7] = [9000, 9200, 9400, 9500, 9600, 9700, 9750];

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn main() {
    let runs = arg("--runs", 40);
    let max_steps = arg("--max-steps", 3000);
    // `--all-steps 1`: train to `--max-steps` even once every target is reached (to measure
    // the liveness of long training).
    let all_steps = arg("--all-steps", 0) != 0;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
    let data = Arc::new(Mnist::load(dir).expect("data/mnist"));
    let task = Task::mnist(data.hash());
    let device = Backend::DEFAULT.device();
    let evaluator = Evaluator::new(data.test(), &task.arithmetic, &device);
    let mut trainer = Trainer::new(&task, Arc::clone(&data), &device);
    let k = u64::from(task.checkpoint_interval);
    let eval_every = u64::from(task.eval_interval);

    let mut reached: Vec<Vec<Option<u64>>> = vec![Vec::new(); TARGETS_BP.len()];
    for run in 0..runs {
        let seed: [u8; 32] = Sha256::digest(format!("steps-to-target run {run}")).into();
        let w0 = Weights::initial(&seed, &task.arithmetic);
        let mut hash = w0.hash();
        let mut model = trainer.model(&w0);
        let mut first = [None; TARGETS_BP.len()];
        let mut steps = 0;
        let mut min_live = u32::MAX;
        // The fewest live entries in each window of 1,000 steps.
        let mut window_min: Vec<u32> = Vec::new();
        while steps < max_steps && (all_steps || first.iter().any(Option::is_none)) {
            let key = segment_key(&seed, steps / k, &hash);
            let (next, stats) = trainer.train_segment(model, &key).unwrap();
            model = next;
            min_live = min_live.min(stats.live_deltas[0]);
            let window = (steps / 1000) as usize;
            if window_min.len() <= window {
                window_min.push(u32::MAX);
            }
            window_min[window] = window_min[window].min(stats.live_deltas[0]);
            steps += k;
            hash = model.weights().unwrap().hash();
            if steps.is_multiple_of(eval_every) {
                let bp = evaluator.accuracy(&model).unwrap();
                for (slot, &target) in first.iter_mut().zip(&TARGETS_BP) {
                    if slot.is_none() && bp >= target {
                        *slot = Some(steps);
                    }
                }
            }
        }
        for (list, slot) in reached.iter_mut().zip(first) {
            list.push(slot);
        }
        let entries = k * u64::from(task.batch_size) * 512;
        println!(
            "run {run}: {first:?}; fewest live backward entries in a segment: {min_live} of {entries} ({:.1} %)",
            f64::from(min_live) * 100.0 / entries as f64
        );
        if all_steps {
            let per_window: Vec<String> = window_min
                .iter()
                .map(|&m| format!("{:.1}", f64::from(m) * 100.0 / entries as f64))
                .collect();
            println!(
                "run {run}: fewest live % per 1,000 steps: {}",
                per_window.join(" ")
            );
        }
    }

    println!(
        "\ntarget | reached | min | p10 | p50 | p90 | max  (steps, {runs} runs, cap {max_steps})"
    );
    for (target, list) in TARGETS_BP.iter().zip(&reached) {
        let mut steps: Vec<u64> = list.iter().flatten().copied().collect();
        steps.sort_unstable();
        let missing = list.len() - steps.len();
        let pct = |p: usize| -> String {
            // Runs that never reached the target sort after every reached one.
            let i = (p * list.len()).div_ceil(100).max(1) - 1;
            steps.get(i).map_or("-".into(), u64::to_string)
        };
        println!(
            "{:.2} % | {}/{} | {} | {} | {} | {} | {}",
            f64::from(*target) / 100.0,
            steps.len(),
            list.len(),
            steps.first().map_or("-".into(), u64::to_string),
            pct(10),
            pct(50),
            pct(90),
            if missing > 0 {
                "-".into()
            } else {
                steps.last().map_or("-".into(), u64::to_string)
            },
        );
    }
}
