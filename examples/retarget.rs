//! The retarget rule in a deterministic simulation, plotted: the network's hash rate steps
//! 10x up, back, 10x down and back; ASERT steers the mean block interval back to the
//! parameter after each step. Prints the settled mean interval of each phase and writes a PNG.
//!
//! ```sh
//! cargo run --release --example retarget -- --out docs/retarget.png
//! ```
//!
//! The picture, left to right in block height: the grey band is the hash rate (log scale, one
//! step a phase), the blue curve the mean interval of the last 200 blocks, the black line the
//! 60 s parameter and the thin lines 5 % either side of it (vertical scale 0 to 120 s).

#![allow(clippy::print_stdout)]

mod common;

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::{Context, Result};
use blockchain_ann::ledger::Difficulty;
use blockchain_ann::ledger::target::simulation::{Phase, simulate};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Simulate and plot the retarget rule through 10x hash-rate steps."
)]
struct Args {
    /// Where to write the plot.
    #[arg(long, default_value = "retarget.png")]
    out: PathBuf,
    /// Blocks per phase.
    #[arg(long, default_value_t = 5_000)]
    blocks: usize,
    /// Seed of the simulated lottery.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() {
    common::main_with::<Args>(run);
}

const WIDTH: usize = 1000;
const HEIGHT: usize = 400;
const MAX_INTERVAL: f64 = 120.0;
const WINDOW: usize = 200;

fn run(args: Args) -> Result<()> {
    let difficulty = Difficulty::main();
    let interval = difficulty.block_interval_secs as f64;
    let base = difficulty.initial.work() as f64 / interval;
    let factors = [1.0, 10.0, 1.0, 0.1, 1.0];
    let phases: Vec<Phase> = factors
        .iter()
        .map(|f| Phase {
            blocks: args.blocks,
            tickets_per_sec: base * f,
        })
        .collect();
    let blocks = simulate(&difficulty, &phases, args.seed);
    let settle = (args.blocks / 5).max(1);
    for (i, phase) in blocks.chunks(args.blocks).enumerate() {
        let tail = &phase[settle.min(phase.len())..];
        let mean = tail.iter().map(|b| b.interval).sum::<f64>() / tail.len().max(1) as f64;
        let var = tail
            .iter()
            .map(|b| (b.interval - mean).powi(2))
            .sum::<f64>()
            / tail.len().max(1) as f64;
        println!(
            "phase {i}: hash rate x{:<4} mean interval {mean:6.2} s (sd {:5.1} s) after {settle} blocks, {:+.1} % off {interval} s",
            factors[i],
            var.sqrt(),
            100.0 * (mean - interval) / interval
        );
    }

    let mut pixels = vec![255u8; WIDTH * HEIGHT * 3];
    let mut put = |x: usize, y: usize, rgb: [u8; 3]| {
        if x < WIDTH && y < HEIGHT {
            let at = (y * WIDTH + x) * 3;
            pixels[at..at + 3].copy_from_slice(&rgb);
        }
    };
    let y_of = |seconds: f64| {
        let clamped = seconds.clamp(0.0, MAX_INTERVAL);
        ((1.0 - clamped / MAX_INTERVAL) * (HEIGHT - 1) as f64).round() as usize
    };
    let per_column = blocks.len().div_ceil(WIDTH).max(1);
    for x in 0..WIDTH {
        let Some(block) = blocks.get(x * per_column) else {
            break;
        };
        // Hash rate: log10 from -1 to 1 mapped to a band at the bottom.
        let level = (block.tickets_per_sec / base).log10();
        let top = HEIGHT - ((level + 1.5) * 40.0) as usize;
        for y in top..HEIGHT {
            put(x, y, [220, 220, 220]);
        }
        for (seconds, rgb) in [
            (interval, [0, 0, 0]),
            (interval * 0.95, [150, 150, 150]),
            (interval * 1.05, [150, 150, 150]),
        ] {
            put(x, y_of(seconds), rgb);
        }
    }
    let mut previous: Option<(usize, usize)> = None;
    for x in 0..WIDTH {
        let end = ((x + 1) * per_column).min(blocks.len());
        if end < WINDOW {
            continue;
        }
        let window = &blocks[end - WINDOW..end];
        let mean = window.iter().map(|b| b.interval).sum::<f64>() / WINDOW as f64;
        let y = y_of(mean);
        let (from, to) = match previous {
            Some((_, py)) => (py.min(y), py.max(y)),
            None => (y, y),
        };
        for yy in from..=to {
            put(x, yy, [30, 90, 200]);
            put(x, yy + 1, [30, 90, 200]);
        }
        previous = Some((x, y));
    }

    let file =
        File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), WIDTH as u32, HEIGHT as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&pixels)?;
    println!("wrote {}", args.out.display());
    Ok(())
}
