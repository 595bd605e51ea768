//! The 784-512-10 ReLU MLP, its canonical weights, their hash, and the block-bound W0.
//!
//! [`Weights`] is the host-side, backend-independent form of the model: four `f32` arrays in a
//! fixed order. It is what checkpoints hash and store, and what every backend's model is built
//! from ([`Mlp::from_weights`]) and read back into ([`Mlp::weights`]), so a checkpoint means the
//! same thing on every backend.

use burn::module::Param;
use burn::nn::{Linear, Relu};
use burn::prelude::*;
use sha2::{Digest, Sha256};

use crate::dataset::{CLASSES, IMAGE_PIXELS};
use crate::prng;

/// Width of the hidden layer.
pub const HIDDEN: usize = 512;

/// Parameters of the model: `784*512 + 512 + 512*10 + 10`.
pub const PARAMETER_COUNT: usize = IMAGE_PIXELS * HIDDEN + HIDDEN + HIDDEN * CLASSES + CLASSES;

/// Length of the canonical byte form of [`Weights`]: 4 bytes per parameter.
pub const WEIGHTS_BYTES: usize = 4 * PARAMETER_COUNT;

/// Domain tag of [`Weights::hash`].
pub const WEIGHTS_TAG: &[u8] = b"blockchain-ann/weights/v1";

/// SHA-256 of [`WEIGHTS_TAG`] and the canonical weight bytes: a checkpoint's identity and its
/// artifact's file name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WeightsHash(pub [u8; 32]);

impl std::fmt::Display for WeightsHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for WeightsHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WeightsHash({self})")
    }
}

/// A byte string that is not the canonical form of [`Weights`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("canonical weights are exactly {WEIGHTS_BYTES} bytes, got {0}")]
pub struct WeightsLengthError(pub usize);

/// The model's parameters in canonical order and layout.
///
/// Canonical bytes: `hidden_weight` (`[784][512]`, row-major: input-major, as burn's `Linear`
/// stores `[d_input, d_output]`), `hidden_bias` (`[512]`), `output_weight` (`[512][10]`),
/// `output_bias` (`[10]`), each `f32` little-endian, concatenated with nothing else.
#[derive(Clone, PartialEq)]
pub struct Weights {
    /// `[784][512]`, row-major.
    pub hidden_weight: Vec<f32>,
    /// `[512]`.
    pub hidden_bias: Vec<f32>,
    /// `[512][10]`, row-major.
    pub output_weight: Vec<f32>,
    /// `[10]`.
    pub output_bias: Vec<f32>,
}

impl std::fmt::Debug for Weights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Weights")
            .field("hash", &self.hash())
            .finish()
    }
}

impl Weights {
    /// W0 for a block: every parameter uniform in `[-1/sqrt(fan_in), 1/sqrt(fan_in))` (the
    /// usual fan-in initialisation of a linear layer), drawn in canonical order from the
    /// ChaCha20 stream `(INIT_TAG, seed, 0)` with the formula of [`prng`].
    pub fn initial(seed: &[u8; 32]) -> Self {
        let mut rng = prng::stream(prng::INIT_TAG, seed, 0);
        let hidden_bound = (IMAGE_PIXELS as f32).sqrt().recip();
        let output_bound = (HIDDEN as f32).sqrt().recip();
        let mut draw = |n: usize, bound: f32| -> Vec<f32> {
            (0..n)
                .map(|_| prng::uniform_symmetric(&mut rng, bound))
                .collect()
        };
        let hidden_weight = draw(IMAGE_PIXELS * HIDDEN, hidden_bound);
        let hidden_bias = draw(HIDDEN, hidden_bound);
        let output_weight = draw(HIDDEN * CLASSES, output_bound);
        let output_bias = draw(CLASSES, output_bound);
        Self {
            hidden_weight,
            hidden_bias,
            output_weight,
            output_bias,
        }
    }

    fn parts(&self) -> [&[f32]; 4] {
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

    /// Parses canonical bytes.
    ///
    /// # Errors
    /// [`WeightsLengthError`] unless `bytes` is exactly [`WEIGHTS_BYTES`] long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WeightsLengthError> {
        if bytes.len() != WEIGHTS_BYTES {
            return Err(WeightsLengthError(bytes.len()));
        }
        let mut floats = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let mut take = |n: usize| -> Vec<f32> { floats.by_ref().take(n).collect() };
        Ok(Self {
            hidden_weight: take(IMAGE_PIXELS * HIDDEN),
            hidden_bias: take(HIDDEN),
            output_weight: take(HIDDEN * CLASSES),
            output_bias: take(CLASSES),
        })
    }

    /// The checkpoint hash: `SHA-256(WEIGHTS_TAG || canonical bytes)`.
    pub fn hash(&self) -> WeightsHash {
        hash_weight_bytes(&self.to_bytes())
    }

    /// Whether every array has its canonical length (always true for values built by this
    /// crate; checked before a model is built from foreign data).
    pub fn has_canonical_shape(&self) -> bool {
        self.hidden_weight.len() == IMAGE_PIXELS * HIDDEN
            && self.hidden_bias.len() == HIDDEN
            && self.output_weight.len() == HIDDEN * CLASSES
            && self.output_bias.len() == CLASSES
    }

    /// Largest absolute difference between two weight sets, parameter by parameter.
    pub fn max_abs_diff(&self, other: &Weights) -> f32 {
        self.parts()
            .iter()
            .zip(other.parts().iter())
            .flat_map(|(a, b)| a.iter().zip(b.iter()))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    /// Number of parameters whose bits differ between two weight sets.
    pub fn differing_parameters(&self, other: &Weights) -> usize {
        self.parts()
            .iter()
            .zip(other.parts().iter())
            .flat_map(|(a, b)| a.iter().zip(b.iter()))
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count()
    }
}

/// Hashes canonical weight bytes that are already serialized (artifact files).
pub fn hash_weight_bytes(bytes: &[u8]) -> WeightsHash {
    let mut hasher = Sha256::new();
    hasher.update(WEIGHTS_TAG);
    hasher.update(bytes);
    WeightsHash(hasher.finalize().into())
}

/// The task's model: `784 -> 512 -> ReLU -> 10` (logits).
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Linear,
    activation: Relu,
    output: Linear,
}

/// The four parameter tensors of an [`Mlp`] on a device, as the trainer updates them
/// ([`Weights`] is their host-side copy).
#[derive(Clone, Debug)]
pub struct Parameters {
    /// `W1`, shape `[784, 512]`.
    pub hidden_weight: Tensor<2>,
    /// `b1`, shape `[512]`.
    pub hidden_bias: Tensor<1>,
    /// `W2`, shape `[512, 10]`.
    pub output_weight: Tensor<2>,
    /// `b2`, shape `[10]`.
    pub output_bias: Tensor<1>,
}

/// Reading weights back from a backend failed.
#[derive(Debug, thiserror::Error)]
#[error("reading weights from the backend failed: {0}")]
pub struct TensorReadError(pub String);

impl Mlp {
    /// Builds the model on `device` from host-side weights, the only way this crate creates a
    /// model (never from a backend's RNG).
    pub fn from_weights(weights: &Weights, device: &Device) -> Self {
        fn tensor<const D: usize>(values: &[f32], shape: [usize; D], device: &Device) -> Tensor<D> {
            Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
        }
        Self::from_parameters(Parameters {
            hidden_weight: tensor(&weights.hidden_weight, [IMAGE_PIXELS, HIDDEN], device),
            hidden_bias: tensor(&weights.hidden_bias, [HIDDEN], device),
            output_weight: tensor(&weights.output_weight, [HIDDEN, CLASSES], device),
            output_bias: tensor(&weights.output_bias, [CLASSES], device),
        })
    }

    /// Builds the model from its four parameter tensors.
    pub fn from_parameters(parameters: Parameters) -> Self {
        let linear = |weight, bias| Linear {
            weight: Param::from_tensor(weight),
            bias: Some(Param::from_tensor(bias)),
        };
        Self {
            hidden: linear(parameters.hidden_weight, parameters.hidden_bias),
            activation: Relu::new(),
            output: linear(parameters.output_weight, parameters.output_bias),
        }
    }

    /// Takes the model apart into its four parameter tensors, without copying them.
    pub fn into_parameters(self) -> Parameters {
        let device = self.hidden.weight.device();
        let split = |linear: Linear, outputs: usize| {
            let bias = match linear.bias {
                Some(bias) => bias.into_value(),
                None => Tensor::zeros([outputs], &device),
            };
            (linear.weight.into_value(), bias)
        };
        let (hidden_weight, hidden_bias) = split(self.hidden, HIDDEN);
        let (output_weight, output_bias) = split(self.output, CLASSES);
        Parameters {
            hidden_weight,
            hidden_bias,
            output_weight,
            output_bias,
        }
    }

    /// Logits for a batch of preprocessed images `[batch, 784]`.
    pub fn forward(&self, images: Tensor<2>) -> Tensor<2> {
        let hidden = self.activation.forward(self.hidden.forward(images));
        self.output.forward(hidden)
    }

    /// Reads the weights back to the host in canonical form.
    ///
    /// # Errors
    /// [`TensorReadError`] if the backend fails to hand the data back.
    pub fn weights(&self) -> Result<Weights, TensorReadError> {
        fn read<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, TensorReadError> {
            tensor
                .into_data()
                .try_to_vec::<f32>()
                .map_err(|e| TensorReadError(format!("{e:?}")))
        }
        let bias = |linear: &Linear| -> Result<Vec<f32>, TensorReadError> {
            match &linear.bias {
                Some(b) => read(b.val()),
                None => Err(TensorReadError("linear layer without bias".into())),
            }
        };
        let weights = Weights {
            hidden_weight: read(self.hidden.weight.val())?,
            hidden_bias: bias(&self.hidden)?,
            output_weight: read(self.output.weight.val())?,
            output_bias: bias(&self.output)?,
        };
        if weights.has_canonical_shape() {
            Ok(weights)
        } else {
            Err(TensorReadError("weights of unexpected shape".into()))
        }
    }
}
