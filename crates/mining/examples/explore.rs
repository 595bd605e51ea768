//! Temporary exploration harness (removed before commit).
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]
use std::sync::Arc;
use std::time::Instant;
use ann_mining::{Backend, Mnist, Task, Weights};
use ann_mining::training::{Evaluator, Trainer};
use ann_mining::trace::chain_key;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend: Backend = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(Backend::Flex);
    let lr: f32 = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(0.1);
    let batch: u32 = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(64);
    let max: u64 = args.get(4).map(|s| s.parse().unwrap()).unwrap_or(1000);
    let seeds: u8 = args.get(5).map(|s| s.parse().unwrap()).unwrap_or(1);
    let t = Instant::now();
    let data = Arc::new(Mnist::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist")).unwrap());
    println!("load {:?} hash {}", t.elapsed(), data.hash());
    let mut task = Task::mnist(data.hash());
    task.learning_rate = lr;
    task.batch_size = batch;
    task.checkpoint_interval = 25;
    let device = backend.device();
    let ev = Evaluator::new(data.test(), &device);
    for s in 0..seeds {
        let seed = [s; 32];
        let mut trainer = Trainer::new(&task, data.clone(), &device);
        let w0 = Weights::initial(&seed);
        let mut key = chain_key(&seed, &w0.hash());
        let mut model = trainer.model(&w0);
        let mut steps = 0;
        let mut train_time = 0.0;
        let mut eval_time = 0.0;
        let mut hit90 = None; let mut hit95 = None;
        while steps < max {
            let t = Instant::now();
            let (m, loss) = trainer.train_segment(model, &key).unwrap();
            model = m;
            let w = model.weights().unwrap();
            let h = w.hash();
            key = chain_key(&key, &h);
            train_time += t.elapsed().as_secs_f64();
            steps += 25;
            if steps % 25 == 0 {
                let t = Instant::now();
                let acc = ev.accuracy(&model).unwrap();
                eval_time += t.elapsed().as_secs_f64();
                if hit90.is_none() && acc >= 9000 { hit90 = Some(steps); }
                if hit95.is_none() && acc >= 9500 { hit95 = Some(steps); }
                if steps % 100 == 0 || seeds == 1 { println!("seed {s} step {steps} loss {loss:.4} acc {acc}"); }
            }
        }
        let samples = steps as f64 * batch as f64;
        println!("{backend} lr {lr} batch {batch} seed {s}: 90% at {hit90:?}, 95% at {hit95:?}; train {:.2}s = {:.0} samples/s (incl. hashing), eval {:.3}s/eval",
            train_time, samples / train_time, eval_time / (steps / 25) as f64);
    }
}
