//! The 784-512-10 MLP: its integer master weights, their canonical bytes and hash, the
//! block-bound W0, and the model on a device.
//!
//! [`Weights`] is the host-side, backend-independent form: four arrays of `i32` master values
//! in a fixed order (see [`Arithmetic`] for what they mean). It is what checkpoints hash and
//! store, and what every backend's model is built from ([`Mlp::from_weights`]) and read back
//! into ([`Mlp::weights`]), so a checkpoint means the same thing on every backend.
//!
//! On a device each master `m` is held as the `f32` value `m * 2^-f` (`f` its fraction bits):
//! exact, since `|m| < 2^24`, and chosen so that the quantised weight is one `floor` away.

use burn::prelude::*;
use sha2::{Digest, Sha256};

use crate::arithmetic::{Arithmetic, Fixed};
use crate::dataset::{CLASSES, IMAGE_PIXELS};
use crate::kernels::HostModel;
use crate::prng;

/// Width of the hidden layer.
pub const HIDDEN: usize = 512;

/// Parameters of the model: `784*512 + 512 + 512*10 + 10`.
pub const PARAMETER_COUNT: usize = IMAGE_PIXELS * HIDDEN + HIDDEN + HIDDEN * CLASSES + CLASSES;

/// Length of the canonical byte form of [`Weights`]: 4 bytes per parameter.
pub const WEIGHTS_BYTES: usize = 4 * PARAMETER_COUNT;

/// The largest master magnitude any checkpoint may hold, whatever the task: `2^23`.
pub const MASTER_LIMIT: i64 = 1 << 23;

/// Domain tag of [`Weights::hash`] (v2: integer masters, `i32` little-endian).
pub const WEIGHTS_TAG: &[u8] = b"blockchain-ann/weights/v2";

/// A checkpoint's identity and its artifact's file name: SHA-256 of [`WEIGHTS_TAG`] and the
/// canonical weight bytes, the ledger's [`ModelHash`] (a block commits its final model's).
pub use ann_ledger::ModelHash;

/// A byte string that is not the canonical form of [`Weights`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WeightsDecodeError {
    /// The length is not [`WEIGHTS_BYTES`].
    #[error("canonical weights are exactly {WEIGHTS_BYTES} bytes, got {0}")]
    Length(usize),
    /// A value is outside its tensor's range (or outside `+-2^23` for any task).
    #[error(transparent)]
    Range(#[from] WeightsRangeError),
}

/// A master value outside the range the task allows for its tensor: rejected before any
/// tensor is built, since outside it the step's products are no longer exact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "master value {value} at {tensor}[{index}] is outside the allowed range {min}..={max} \
     (an f32 bit pattern such as NaN or a fraction reads as a huge integer)"
)]
pub struct WeightsRangeError {
    /// `hidden_weight`, `hidden_bias`, `output_weight` or `output_bias`.
    pub tensor: &'static str,
    /// Position in the tensor.
    pub index: usize,
    /// The offending value.
    pub value: i64,
    /// The smallest allowed value.
    pub min: i64,
    /// The largest allowed value.
    pub max: i64,
}

/// A device handed back values that are not the exact integers the step guarantees (a
/// backend bug, never a property of the input): refused rather than rounded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TensorReadError {
    /// The backend failed to hand the data back.
    #[error("reading from the backend failed: {0}")]
    Backend(String),
    /// A master read back is not an integer multiple of its unit, or leaves its range.
    #[error("the backend returned {value} at {tensor}[{index}], not an exact master value")]
    NotExact {
        /// The tensor.
        tensor: &'static str,
        /// Position in the tensor.
        index: usize,
        /// The value as read (in master units).
        value: f64,
    },
    /// A tensor came back with the wrong number of elements.
    #[error("the backend returned {found} values for {tensor}, expected {expected}")]
    Shape {
        /// The tensor.
        tensor: &'static str,
        /// Values expected.
        expected: usize,
        /// Values returned.
        found: usize,
    },
}

/// The model's integer master parameters in canonical order and layout.
///
/// Canonical bytes: `hidden_weight` (`M1`, `[784][512]`, row-major: input-major),
/// `hidden_bias` (`C1`, `[512]`), `output_weight` (`M2`, `[512][10]`), `output_bias` (`C2`,
/// `[10]`), each value `i32` little-endian, concatenated with nothing else.
#[derive(Clone, PartialEq, Eq)]
pub struct Weights {
    /// `M1`: `[784][512]`, row-major.
    pub hidden_weight: Vec<i32>,
    /// `C1`: `[512]`.
    pub hidden_bias: Vec<i32>,
    /// `M2`: `[512][10]`, row-major.
    pub output_weight: Vec<i32>,
    /// `C2`: `[10]`.
    pub output_bias: Vec<i32>,
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Weights")
            .field("hash", &self.hash())
            .finish()
    }
}

/// The names of the four tensors, in canonical order.
pub const TENSOR_NAMES: [&str; 4] = [
    "hidden_weight",
    "hidden_bias",
    "output_weight",
    "output_bias",
];

/// Element counts of the four tensors, in canonical order.
pub const TENSOR_LENGTHS: [usize; 4] = [IMAGE_PIXELS * HIDDEN, HIDDEN, HIDDEN * CLASSES, CLASSES];

impl Weights {
    /// W0 for a block under `arithmetic`: every master uniform over the integers in
    /// `center +- round(2^f * q / sqrt(fan_in))` where `q` is the quantised unit's real size
    /// inverse (so the real weights are uniform in `+-1/sqrt(fan_in)`, the usual fan-in
    /// initialisation), and `center = 2^(f-1)` so that `floor` quantises symmetrically. Drawn
    /// in canonical order from the ChaCha20 stream `(INIT_TAG, seed, 0)` by
    /// [`prng::uniform_below`].
    pub fn initial(seed: &[u8; 32], arithmetic: &Arithmetic) -> Self {
        let mut rng = prng::stream(prng::INIT_TAG, seed, 0);
        let mut draw = |n: usize, fixed: Fixed, half_width: i64| -> Vec<i32> {
            let center = 1i64 << fixed.fraction_bits.saturating_sub(1);
            let span = u32::try_from(2 * half_width + 1).unwrap_or(u32::MAX);
            (0..n)
                .map(|_| {
                    let v = center - half_width + i64::from(prng::uniform_below(&mut rng, span));
                    clamp_i32(v, fixed)
                })
                .collect()
        };
        let widths = initial_half_widths(arithmetic);
        let hidden_weight = draw(TENSOR_LENGTHS[0], arithmetic.hidden_weight, widths[0]);
        let hidden_bias = draw(TENSOR_LENGTHS[1], arithmetic.hidden_bias, widths[1]);
        let output_weight = draw(TENSOR_LENGTHS[2], arithmetic.output_weight, widths[2]);
        let output_bias = draw(TENSOR_LENGTHS[3], arithmetic.output_bias, widths[3]);
        Self {
            hidden_weight,
            hidden_bias,
            output_weight,
            output_bias,
        }
    }

    /// The four tensors in canonical order.
    pub fn parts(&self) -> [&[i32]; 4] {
        [
            &self.hidden_weight,
            &self.hidden_bias,
            &self.output_weight,
            &self.output_bias,
        ]
    }

    /// The canonical bytes (see the type's docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(WEIGHTS_BYTES);
        for part in self.parts() {
            for value in part {
                bytes.extend_from_slice(&value.to_le_bytes());
            }
        }
        bytes
    }

    /// Parses canonical bytes, refusing any value past [`MASTER_LIMIT`] (what a checkpoint of
    /// any task may hold; [`Weights::check_ranges`] applies a task's tighter ranges).
    ///
    /// # Errors
    /// [`WeightsDecodeError`]: wrong length, or a value out of range.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsDecodeError> {
        if bytes.len() != WEIGHTS_BYTES {
            return Err(WeightsDecodeError::Length(bytes.len()));
        }
        let mut values = bytes
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let mut take = |n: usize| -> Vec<i32> { values.by_ref().take(n).collect() };
        let weights = Self {
            hidden_weight: take(TENSOR_LENGTHS[0]),
            hidden_bias: take(TENSOR_LENGTHS[1]),
            output_weight: take(TENSOR_LENGTHS[2]),
            output_bias: take(TENSOR_LENGTHS[3]),
        };
        for (part, tensor) in weights.parts().into_iter().zip(TENSOR_NAMES) {
            check_part(part, tensor, -MASTER_LIMIT, MASTER_LIMIT)?;
        }
        Ok(weights)
    }

    /// Checks every master against its range under `arithmetic` (the clamp of the step).
    ///
    /// # Errors
    /// [`WeightsRangeError`] for the first value outside its tensor's range.
    pub fn check_ranges(&self, arithmetic: &Arithmetic) -> Result<(), WeightsRangeError> {
        let formats = TENSOR_NAMES.into_iter().zip(arithmetic.masters());
        for (part, (tensor, fixed)) in self.parts().into_iter().zip(formats) {
            check_part(part, tensor, fixed.master_min(), fixed.master_max())?;
        }
        Ok(())
    }

    /// The checkpoint hash: `SHA-256(WEIGHTS_TAG || canonical bytes)`.
    pub fn hash(&self) -> ModelHash {
        // Streamed through a small buffer: the same bytes as `to_bytes`, without building the
        // 1.6 MB vector (a miner hashes every checkpoint).
        let mut hasher = Sha256::new();
        hasher.update(WEIGHTS_TAG);
        let mut buffer = [0u8; 4 * 4096];
        for part in self.parts() {
            for chunk in part.chunks(4096) {
                for (slot, value) in buffer.chunks_exact_mut(4).zip(chunk) {
                    slot.copy_from_slice(&value.to_le_bytes());
                }
                hasher.update(&buffer[..4 * chunk.len()]);
            }
        }
        ModelHash::from_bytes(hasher.finalize().into())
    }

    /// Whether every array has its canonical length (always true for values built by this
    /// crate; checked before a model is built from foreign data).
    pub fn has_canonical_shape(&self) -> bool {
        self.parts()
            .iter()
            .zip(TENSOR_LENGTHS)
            .all(|(part, len)| part.len() == len)
    }

    /// Number of parameters that differ between two weight sets.
    pub fn differing_parameters(&self, other: &Weights) -> usize {
        self.parts()
            .iter()
            .zip(other.parts().iter())
            .flat_map(|(a, b)| a.iter().zip(b.iter()))
            .filter(|(a, b)| a != b)
            .count()
    }
}

/// Half-widths of W0's uniform draw per tensor, in master units: `2^f / sqrt(fan_in)` real
/// units' worth, where the quantised units are `2^-10` (W1), `2^-15` (b1), `2^-9` (W2) and
/// `2^-14` (b2) of a real value.
fn initial_half_widths(a: &Arithmetic) -> [i64; 4] {
    let width = |fixed: Fixed, unit_log2: i32, fan_in: usize| -> i64 {
        // 2^(f + unit) / sqrt(fan_in), rounded: computed in f64 from small exact integers;
        // sqrt is correctly rounded by IEEE 754, so every platform gets the same integer.
        let scale = f64::from(fixed.fraction_bits as i32 + unit_log2).exp2();
        (scale / (fan_in as f64).sqrt()).round() as i64
    };
    [
        width(a.hidden_weight, 10, IMAGE_PIXELS),
        width(a.hidden_bias, 15, IMAGE_PIXELS),
        width(a.output_weight, 9, HIDDEN),
        width(a.output_bias, 14, HIDDEN),
    ]
}

fn clamp_i32(v: i64, fixed: Fixed) -> i32 {
    let clamped = v.clamp(fixed.master_min(), fixed.master_max());
    i32::try_from(clamped).unwrap_or(if clamped < 0 { i32::MIN } else { i32::MAX })
}

fn check_part(
    part: &[i32],
    tensor: &'static str,
    min: i64,
    max: i64,
) -> Result<(), WeightsRangeError> {
    match part
        .iter()
        .position(|&v| !(min..=max).contains(&i64::from(v)))
    {
        Some(index) => Err(WeightsRangeError {
            tensor,
            index,
            value: i64::from(part[index]),
            min,
            max,
        }),
        None => Ok(()),
    }
}

/// Hashes canonical weight bytes that are already serialized (artifact files).
pub fn hash_weight_bytes(bytes: &[u8]) -> ModelHash {
    let mut hasher = Sha256::new();
    hasher.update(WEIGHTS_TAG);
    hasher.update(bytes);
    ModelHash::from_bytes(hasher.finalize().into())
}

/// The master parameters of `n` models on a device, each as `m * 2^-f` in `f32`, with a
/// leading candidate dimension so that several models train in one batched product.
#[derive(Clone, Debug)]
pub struct Parameters {
    /// `M1 * 2^-f1`, shape `[n, 784, 512]`: `floor` of it is `W1q`.
    pub hidden_weight: Tensor<3>,
    /// `C1 * 2^-g1`, shape `[n, 1, 512]`.
    pub hidden_bias: Tensor<3>,
    /// `M2 * 2^-f2`, shape `[n, 512, 10]`.
    pub output_weight: Tensor<3>,
    /// `C2 * 2^-g2`, shape `[n, 1, 10]`.
    pub output_bias: Tensor<3>,
}

/// The task's model: `n >= 1` candidate MLPs `784 -> 512 -> ReLU -> 10` that train side by
/// side (one for a plain miner or verifier), held either as tensors on a burn device or, for
/// the CPU kernels ([`Engine::CpuKernels`](crate::training::Engine)), as integer masters on
/// the host. Both forms mean the same weights; [`Mlp::weights`] reads either.
#[derive(Clone, Debug)]
pub struct Mlp {
    state: State,
    arithmetic: Arithmetic,
}

#[derive(Clone, Debug)]
enum State {
    /// Tensors on a device (the tensor step's form).
    Tensors(Box<Parameters>),
    /// On the host in the CPU kernels' working form, for a model of `device`.
    Host {
        candidates: Vec<HostModel>,
        device: Device,
    },
}

impl Mlp {
    /// Builds one model on `device` from host weights.
    pub fn from_weights(weights: &Weights, arithmetic: &Arithmetic, device: &Device) -> Self {
        Self::from_candidates(std::slice::from_ref(weights), arithmetic, device)
    }

    /// Builds `weights.len()` candidate models on `device`, stacked along the first dimension.
    pub fn from_candidates(weights: &[Weights], arithmetic: &Arithmetic, device: &Device) -> Self {
        let n = weights.len();
        let tensor = |index: usize, fixed: Fixed, shape: [usize; 3]| -> Tensor<3> {
            let scale = fixed.scale();
            let values: Vec<f32> = weights
                .iter()
                .flat_map(|w| w.parts()[index].iter().map(move |&m| m as f32 * scale))
                .collect();
            Tensor::from_data(TensorData::new(values, shape), device)
        };
        let parameters = Parameters {
            hidden_weight: tensor(0, arithmetic.hidden_weight, [n, IMAGE_PIXELS, HIDDEN]),
            hidden_bias: tensor(1, arithmetic.hidden_bias, [n, 1, HIDDEN]),
            output_weight: tensor(2, arithmetic.output_weight, [n, HIDDEN, CLASSES]),
            output_bias: tensor(3, arithmetic.output_bias, [n, 1, CLASSES]),
        };
        Self::from_parameters(parameters, arithmetic)
    }

    /// Wraps device parameters (as the tensor step updates them).
    pub fn from_parameters(parameters: Parameters, arithmetic: &Arithmetic) -> Self {
        Self {
            state: State::Tensors(Box::new(parameters)),
            arithmetic: arithmetic.clone(),
        }
    }

    /// Wraps models in the CPU kernels' working form, for a model of `device`.
    pub(crate) fn from_host(
        candidates: Vec<HostModel>,
        arithmetic: &Arithmetic,
        device: &Device,
    ) -> Self {
        Self {
            state: State::Host {
                candidates,
                device: device.clone(),
            },
            arithmetic: arithmetic.clone(),
        }
    }

    /// Takes the model apart into its parameter tensors: without copying them when they are
    /// on the device, uploaded from the host otherwise.
    pub fn into_parameters(self) -> Parameters {
        match self.state {
            State::Tensors(parameters) => *parameters,
            State::Host { candidates, device } => {
                let weights: Vec<Weights> = candidates.iter().map(HostModel::weights).collect();
                Self::from_candidates(&weights, &self.arithmetic, &device).into_parameters()
            }
        }
    }

    /// The parameter tensors, when the model is held as tensors (`None` for a model the CPU
    /// kernels hold on the host: [`Mlp::weights`] reads both).
    pub fn parameters(&self) -> Option<&Parameters> {
        match &self.state {
            State::Tensors(parameters) => Some(parameters),
            State::Host { .. } => None,
        }
    }

    /// How many candidate models this holds.
    pub fn candidates(&self) -> usize {
        match &self.state {
            State::Tensors(parameters) => parameters.hidden_weight.dims()[0],
            State::Host { candidates, .. } => candidates.len(),
        }
    }

    /// The device it lives on (or, held on the host, was built for).
    pub fn device(&self) -> Device {
        match &self.state {
            State::Tensors(parameters) => parameters.hidden_weight.device(),
            State::Host { device, .. } => device.clone(),
        }
    }

    /// Reads the first (for a single model: the) candidate back to the host.
    ///
    /// # Errors
    /// [`TensorReadError`] if the backend fails or hands back a value that is not an exact
    /// master.
    pub fn weights(&self) -> Result<Weights, TensorReadError> {
        if let State::Host { candidates, .. } = &self.state {
            return candidates
                .first()
                .map(HostModel::weights)
                .ok_or(TensorReadError::Shape {
                    tensor: "candidates",
                    expected: 1,
                    found: 0,
                });
        }
        let mut all = self.candidate_weights()?;
        if all.is_empty() {
            return Err(TensorReadError::Shape {
                tensor: TENSOR_NAMES[0],
                expected: TENSOR_LENGTHS[0],
                found: 0,
            });
        }
        Ok(all.swap_remove(0))
    }

    /// Reads every candidate back to the host, in order.
    ///
    /// # Errors
    /// [`TensorReadError`] if the backend fails or hands back a value that is not an exact
    /// master.
    pub fn candidate_weights(&self) -> Result<Vec<Weights>, TensorReadError> {
        match &self.state {
            State::Tensors(parameters) => read_parameters(parameters, &self.arithmetic),
            State::Host { candidates, .. } => {
                Ok(candidates.iter().map(HostModel::weights).collect())
            }
        }
    }

    /// Candidate `index` in the CPU kernels' working form, when the model is held so.
    pub(crate) fn host_candidate(&self, index: usize) -> Option<&HostModel> {
        match &self.state {
            State::Tensors(_) => None,
            State::Host { candidates, .. } => candidates.get(index),
        }
    }

    /// The candidates in the CPU kernels' working form: moved out when the model is held so,
    /// read back from the device and converted by `convert` otherwise.
    pub(crate) fn into_host(
        self,
        convert: impl Fn(&Weights) -> HostModel,
    ) -> Result<Vec<HostModel>, TensorReadError> {
        match self.state {
            State::Host { candidates, .. } => Ok(candidates),
            State::Tensors(parameters) => Ok(read_parameters(&parameters, &self.arithmetic)?
                .iter()
                .map(convert)
                .collect()),
        }
    }
}

/// Reads `n` candidates' parameters back from their device.
fn read_parameters(p: &Parameters, a: &Arithmetic) -> Result<Vec<Weights>, TensorReadError> {
    let n = p.hidden_weight.dims()[0];
    let read = |index: usize, tensor: &Tensor<3>, fixed: Fixed| {
        let values = tensor
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| TensorReadError::Backend(format!("{e:?}")))?;
        masters_from_device(&values, n, index, fixed)
    };
    let mut parts = [
        read(0, &p.hidden_weight, a.hidden_weight)?,
        read(1, &p.hidden_bias, a.hidden_bias)?,
        read(2, &p.output_weight, a.output_weight)?,
        read(3, &p.output_bias, a.output_bias)?,
    ];
    let mut take = |i: usize| std::mem::take(&mut parts[i]).into_iter();
    let (mut w1, mut b1, mut w2, mut b2) = (take(0), take(1), take(2), take(3));
    Ok((0..n)
        .map(|_| Weights {
            hidden_weight: w1.next().unwrap_or_default(),
            hidden_bias: b1.next().unwrap_or_default(),
            output_weight: w2.next().unwrap_or_default(),
            output_bias: b2.next().unwrap_or_default(),
        })
        .collect())
}

/// Turns device values (`m * 2^-f`, `n` candidates of tensor `index` back to back) into
/// masters, refusing any value that is not an exact master in range.
///
/// # Errors
/// [`TensorReadError::NotExact`] or [`TensorReadError::Shape`].
pub fn masters_from_device(
    values: &[f32],
    candidates: usize,
    index: usize,
    fixed: Fixed,
) -> Result<Vec<Vec<i32>>, TensorReadError> {
    let tensor = TENSOR_NAMES[index];
    let len = TENSOR_LENGTHS[index];
    if values.len() != len * candidates {
        return Err(TensorReadError::Shape {
            tensor,
            expected: len * candidates,
            found: values.len(),
        });
    }
    // Scaling by a power of two is exact in f32 (the masters stay below 2^24, far from
    // overflow), so `m` is an integer exactly when converting it to i32 and back gives it
    // again; NaN and infinities fail that test. No libm call per element (`fract` is one).
    let unscale = (fixed.fraction_bits as f32).exp2();
    let (min, max) = (fixed.master_min(), fixed.master_max());
    values
        .chunks_exact(len)
        .map(|chunk| {
            let masters: Vec<i32> = chunk.iter().map(|&v| (v * unscale) as i32).collect();
            let first_bad = chunk.iter().zip(&masters).position(|(&v, &m)| {
                let value = i64::from(m);
                m as f32 != v * unscale || value < min || value > max
            });
            match first_bad {
                None => Ok(masters),
                Some(i) => Err(TensorReadError::NotExact {
                    tensor,
                    index: i,
                    value: f64::from(chunk[i]) * f64::from(unscale),
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w0_is_in_range_and_quantises_symmetrically() {
        let a = Arithmetic::MNIST;
        let w = Weights::initial(&[1; 32], &a);
        assert!(w.has_canonical_shape());
        assert_eq!(w.check_ranges(&a), Ok(()));
        // floor(m / 2^14) over W0's hidden weights: mean close to 0, spread about 2^10/28.
        let q: Vec<i64> = w
            .hidden_weight
            .iter()
            .map(|&m| i64::from(m).div_euclid(1 << 14))
            .collect();
        let mean = q.iter().sum::<i64>() as f64 / q.len() as f64;
        assert!(mean.abs() < 0.1, "mean {mean}");
        let max = q.iter().map(|v| v.abs()).max().unwrap_or(0);
        assert!((35..=37).contains(&max), "max {max}");
    }

    #[test]
    fn foreign_bytes_out_of_range_are_refused() {
        let w = Weights::initial(&[2; 32], &Arithmetic::MNIST);
        let bytes = w.to_bytes();
        assert_eq!(Weights::from_bytes(&bytes), Ok(w));
        for (bits, offset) in [
            (0.5f32.to_bits(), 0),
            (f32::NAN.to_bits(), 4 * 1000),
            ((MASTER_LIMIT as u32) + 1, WEIGHTS_BYTES - 4),
        ] {
            let mut forged = bytes.clone();
            forged[offset..offset + 4].copy_from_slice(&bits.to_le_bytes());
            assert!(
                matches!(
                    Weights::from_bytes(&forged),
                    Err(WeightsDecodeError::Range(_))
                ),
                "{bits:#x}"
            );
        }
        assert_eq!(
            Weights::from_bytes(&bytes[1..]),
            Err(WeightsDecodeError::Length(WEIGHTS_BYTES - 1))
        );
    }

    #[test]
    fn device_values_that_are_not_exact_masters_are_refused() {
        let fixed = Arithmetic::MNIST.output_bias;
        let len = TENSOR_LENGTHS[3];
        let good = vec![1.5f32; len]; // 1.5 * 2^8 = 384
        assert_eq!(
            masters_from_device(&good, 1, 3, fixed).unwrap(),
            vec![vec![384; len]]
        );
        for bad in [1.0f32 / 512.0, f32::NAN, f32::INFINITY, 40_000.0] {
            let mut values = good.clone();
            values[7] = bad;
            assert!(matches!(
                masters_from_device(&values, 1, 3, fixed),
                Err(TensorReadError::NotExact { index: 7, .. })
            ));
        }
        assert!(matches!(
            masters_from_device(&good[1..], 1, 3, fixed),
            Err(TensorReadError::Shape { .. })
        ));
    }
}
