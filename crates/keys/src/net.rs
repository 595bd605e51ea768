//! The original project's "maximally chaotic" neural network, made portable and fast.
//!
//! A feed-forward network of binary (Heaviside) units: the input bits, `hidden_layers` layers
//! of `width` units, and `output_bits` output units. Every unit is 1 when the weighted sum of
//! the active units of the previous layer is strictly positive, else 0 (NumPy's
//! `heaviside(x, 0)`); there are no biases. The weights are `mean + std · z` with `z` drawn
//! from [`crate::normal`], and the defaults (1024 bits in and out, 1024 units, 50 hidden
//! layers, N(0, 1)) are those of the original `NeuralNetwork` class.
//!
//! # The weight stream (format, pinned by golden vectors)
//!
//! * Generator: ChaCha with 8 rounds ([`WeightRng`], `rand_chacha`'s `ChaCha8Rng`), keyed
//!   with `SHA-256("blockchain-ann/chaotic-net/weights/v1" || seed material)`.
//! * Weight matrix `m` (0 = input → first hidden layer, `hidden_layers` = last hidden → output)
//!   uses stream number `m`.
//! * The weight from unit `j` of the layer below to unit `i` of the layer above comes from the
//!   12-bit slot number `n = j · out_m + i` of that stream. Slots are packed in pairs: pair
//!   `p` is bytes `3p, 3p+1, 3p+2` of the keystream (the little-endian bytes of its 32-bit
//!   words, in order), unpacked by [`normal::unpack_levels`]. The weight's value is
//!   `f32(mean + std · QUANTILES[slot])` ([`crate::normal`]).
//! * Each unit adds the `f32` weights of the active units below it in `f64`, in ascending order
//!   of `j`, and is 1 when the sum is strictly positive.
//!
//! Every column (all weights leaving one unit) therefore starts at a known position of the
//! stream and can be generated on its own. Inputs are binary, so a unit's sum needs only the
//! weights leaving *active* units: about half of the 53 million weights of the default network
//! are never generated. The units of a layer are split in fixed chunks across threads; each
//! sum is still added in ascending order of the active unit, so the result is bit-identical
//! whatever the number of threads.
//!
//! Why 8 rounds and not 20: a default key needs 40 MB of keystream (26.7 million 12-bit
//! slots); ChaCha20 produces about 1.8 GB/s per core here (less when the cores are shared), so
//! the keystream alone would take 11 ms of the 14 ms budget on both cores. ChaCha8 is the same cipher with fewer rounds (no attack
//! is known beyond 7), 2.2× faster, and the weights are not a security boundary anyway: the
//! signing key hashes the private key itself (see `docs/keys.md`).

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
#[cfg(feature = "parallel")]
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::normal;

/// Domain tag of the weight seed.
pub const WEIGHT_SEED_DOMAIN: &[u8] = b"blockchain-ann/chaotic-net/weights/v1";

/// Largest accepted layer size: keeps a hostile configuration from forcing a huge allocation.
pub const MAX_UNITS: usize = 1 << 16;

/// Largest accepted number of hidden layers.
pub const MAX_HIDDEN_LAYERS: usize = 4096;

/// The generator of the weight stream.
pub type WeightRng = ChaCha8Rng;

/// Units per parallel work item. The generator refills 256 bytes (four ChaCha blocks) at a
/// time and a unit's weight takes 1.5 bytes, so a multiple of 512 units makes every column
/// chunk a whole number of refills: no keystream is generated and thrown away. (Chunks of 128
/// units wasted a quarter of it.) Sums do not depend on this choice.
const CHUNK_UNITS: usize = 512;

/// Shape and weight distribution of a [`ChaoticNet`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetConfig {
    /// Number of input bits (the private key's length in the original: 1024).
    pub input_bits: usize,
    /// Units per hidden layer (1024).
    pub width: usize,
    /// Number of hidden layers (50).
    pub hidden_layers: usize,
    /// Number of output bits (1024).
    pub output_bits: usize,
    /// Mean of the weights (0: the balance of excitation and inhibition that keeps the
    /// network chaotic; moving it away makes activity die or saturate).
    pub mean: f64,
    /// Standard deviation of the weights (1).
    pub std: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            input_bits: 1024,
            width: 1024,
            hidden_layers: 50,
            output_bits: 1024,
            mean: 0.0,
            std: 1.0,
        }
    }
}

/// Why a network could not be built or evaluated.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A layer size was 0 or above [`MAX_UNITS`].
    #[error("{what} is {value}, but must be between 1 and {MAX_UNITS}")]
    BadSize {
        /// Which size.
        what: &'static str,
        /// The size given.
        value: usize,
    },
    /// The number of hidden layers was 0 or above [`MAX_HIDDEN_LAYERS`].
    #[error("hidden_layers is {0}, but must be between 1 and {MAX_HIDDEN_LAYERS}")]
    BadDepth(usize),
    /// The mean or standard deviation was not a finite number, or the std was not positive.
    #[error("weight distribution mean {mean}, std {std}: both must be finite and std > 0")]
    BadDistribution {
        /// The mean given.
        mean: f64,
        /// The std given.
        std: f64,
    },
    /// The input did not have `input_bits` bits.
    #[error("input has {got} bits, the network takes {expected}")]
    InputLength {
        /// Bits expected.
        expected: usize,
        /// Bits given.
        got: usize,
    },
    /// A weight index was outside the network.
    #[error("no weight matrix {matrix} entry ({from}, {to}) in this network")]
    NoSuchWeight {
        /// Matrix index.
        matrix: usize,
        /// Unit of the layer below.
        from: usize,
        /// Unit of the layer above.
        to: usize,
    },
}

impl NetConfig {
    /// Checks every field; called by [`ChaoticNet::new`].
    pub fn validate(&self) -> Result<(), NetError> {
        for (what, value) in [
            ("input_bits", self.input_bits),
            ("width", self.width),
            ("output_bits", self.output_bits),
        ] {
            if value == 0 || value > MAX_UNITS {
                return Err(NetError::BadSize { what, value });
            }
        }
        if self.hidden_layers == 0 || self.hidden_layers > MAX_HIDDEN_LAYERS {
            return Err(NetError::BadDepth(self.hidden_layers));
        }
        if !self.mean.is_finite() || !self.std.is_finite() || self.std <= 0.0 {
            return Err(NetError::BadDistribution {
                mean: self.mean,
                std: self.std,
            });
        }
        Ok(())
    }

    /// Number of weight matrices (`hidden_layers + 1`).
    pub fn matrices(&self) -> usize {
        self.hidden_layers + 1
    }

    /// (units below, units above) of weight matrix `m`.
    fn matrix_shape(&self, m: usize) -> (usize, usize) {
        let below = if m == 0 { self.input_bits } else { self.width };
        let above = if m == self.hidden_layers {
            self.output_bits
        } else {
            self.width
        };
        (below, above)
    }
}

/// A chaotic network with its weights fixed by a seed (the private key, in the key pipeline).
///
/// The weights are never stored: they are regenerated from the seed for each evaluation,
/// which is both faster (only the active units' weights) and lighter (no 400 MiB matrix).
pub struct ChaoticNet {
    config: NetConfig,
    /// The key of the weight stream; secret when derived from a private key.
    weight_key: Zeroizing<[u8; 32]>,
    /// `mean + std · QUANTILES[k]` for every level `k`, rounded to `f32` so the table fits
    /// in 16 KiB of first-level cache (an array, so that indexing by a 12-bit level needs no
    /// bounds check in the hot loop). Sums are still accumulated in `f64`.
    weight_values: Box<[f32; normal::LEVELS]>,
}

impl std::fmt::Debug for ChaoticNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChaoticNet")
            .field("config", &self.config)
            .field("weight_key", &"<redacted>")
            .finish()
    }
}

impl ChaoticNet {
    /// A network of shape `config` whose weights are seeded by `seed_material`.
    pub fn new(config: NetConfig, seed_material: &[u8]) -> Result<Self, NetError> {
        config.validate()?;
        Ok(Self::from_valid(config, seed_material))
    }

    /// [`ChaoticNet::new`] for a configuration already validated.
    pub(crate) fn from_valid(config: NetConfig, seed_material: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(WEIGHT_SEED_DOMAIN);
        hasher.update(seed_material);
        let weight_key = Zeroizing::new(<[u8; 32]>::from(hasher.finalize()));
        let mut weight_values = Box::new([0.0_f32; normal::LEVELS]);
        for (value, z) in weight_values.iter_mut().zip(normal::quantiles()) {
            *value = (config.mean + config.std * z) as f32;
        }
        Self {
            config,
            weight_key,
            weight_values,
        }
    }

    /// The network's shape and weight distribution.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    fn rng(&self, matrix: usize) -> WeightRng {
        let mut rng = WeightRng::from_seed(*self.weight_key);
        rng.set_stream(matrix as u64);
        rng
    }

    /// One weight, computed on its own (for tests and inspection; slow for bulk use).
    pub fn weight(&self, matrix: usize, from: usize, to: usize) -> Result<f64, NetError> {
        let no_such = NetError::NoSuchWeight { matrix, from, to };
        if matrix >= self.config.matrices() {
            return Err(no_such);
        }
        let (below, above) = self.config.matrix_shape(matrix);
        if from >= below || to >= above {
            return Err(no_such);
        }
        let mut rng = self.rng(matrix);
        let (skip, odd) = seek(&mut rng, (from as u128) * (above as u128) + to as u128);
        let mut bytes = [0_u8; 6];
        rng.fill_bytes(&mut bytes[..skip + 3]);
        let (a, b) = normal::unpack_levels(bytes[skip], bytes[skip + 1], bytes[skip + 2]);
        Ok(f64::from(self.weight_values[if odd { b } else { a }]))
    }

    /// The output bits for `input` (`input_bits` long).
    pub fn evaluate(&self, input: &[bool]) -> Result<Vec<bool>, NetError> {
        self.check_input(input)?;
        Ok(self.run(input))
    }

    /// [`ChaoticNet::evaluate`] for an input of the right length.
    pub(crate) fn run(&self, input: &[bool]) -> Vec<bool> {
        let mut state = input.to_vec();
        for m in 0..self.config.matrices() {
            let next = self.propagate(m, &state);
            // Hidden states are derived from the key: do not leave them in freed memory.
            state.zeroize();
            state = next;
        }
        state
    }

    /// Every layer's states: the input, each hidden layer, then the output (so
    /// `hidden_layers + 2` rows). Row `r`, column `u` is unit `u` of layer `r`: this is the
    /// whitepaper's "percolation map".
    pub fn layer_states(&self, input: &[bool]) -> Result<Vec<Vec<bool>>, NetError> {
        self.check_input(input)?;
        let mut layers = Vec::with_capacity(self.config.matrices() + 1);
        layers.push(input.to_vec());
        for m in 0..self.config.matrices() {
            let next = self.propagate(m, &layers[m]);
            layers.push(next);
        }
        Ok(layers)
    }

    fn check_input(&self, input: &[bool]) -> Result<(), NetError> {
        if input.len() == self.config.input_bits {
            Ok(())
        } else {
            Err(NetError::InputLength {
                expected: self.config.input_bits,
                got: input.len(),
            })
        }
    }

    /// The states of the layer above matrix `m`, given the layer below.
    fn propagate(&self, m: usize, below: &[bool]) -> Vec<bool> {
        let (_, above) = self.config.matrix_shape(m);
        let active: Vec<usize> = below
            .iter()
            .enumerate()
            .filter_map(|(j, &on)| on.then_some(j))
            .collect();
        let active = Zeroizing::new(active);
        let mut sums = Zeroizing::new(vec![0.0_f64; above]);
        if !active.is_empty() {
            let base = self.rng(m);
            #[cfg(feature = "parallel")]
            let chunks = sums.par_chunks_mut(CHUNK_UNITS);
            #[cfg(not(feature = "parallel"))]
            let chunks = sums.chunks_mut(CHUNK_UNITS);
            chunks.enumerate().for_each(|(chunk, sums)| {
                self.add_columns(&base, &active, above, chunk * CHUNK_UNITS, sums);
            });
        }
        sums.iter().map(|&s| s > 0.0).collect()
    }

    /// Adds to `sums` (units `first..first + sums.len()` of a layer of `above` units) the
    /// weights leaving each active unit, in ascending order of that unit.
    fn add_columns(
        &self,
        base: &WeightRng,
        active: &[usize],
        above: usize,
        first: usize,
        sums: &mut [f64],
    ) {
        let mut rng = base.clone();
        let mut bytes = vec![0_u8; 3 * (sums.len() / 2 + 2) + 4];
        let values = &self.weight_values;
        for &j in active {
            let (skip, odd) = seek(&mut rng, (j as u128) * (above as u128) + first as u128);
            let pairs = (sums.len() + usize::from(odd)).div_ceil(2);
            let bytes = &mut bytes[..skip + 3 * pairs];
            rng.fill_bytes(bytes);
            let packed = &bytes[skip..];
            if !odd && sums.len().is_multiple_of(2) {
                // The default shapes: whole pairs, two weights per three bytes.
                for (pair, b) in sums.chunks_exact_mut(2).zip(packed.chunks_exact(3)) {
                    let (first, second) = normal::unpack_levels(b[0], b[1], b[2]);
                    pair[0] += f64::from(values[first]);
                    pair[1] += f64::from(values[second]);
                }
            } else {
                let levels = packed
                    .chunks_exact(3)
                    .flat_map(|b| {
                        let (first, second) = normal::unpack_levels(b[0], b[1], b[2]);
                        [first, second]
                    })
                    .skip(usize::from(odd));
                for (sum, level) in sums.iter_mut().zip(levels) {
                    *sum += f64::from(values[level]);
                }
            }
        }
    }
}

/// Seeks `rng` to the pair of 12-bit slots holding slot `slot`; returns the keystream bytes
/// to skip before that pair and whether `slot` is the second of the pair.
fn seek(rng: &mut WeightRng, slot: u128) -> (usize, bool) {
    let byte = slot / 2 * 3;
    rng.set_word_pos(byte / 4);
    ((byte % 4) as usize, slot % 2 == 1)
}

/// Bits of `bytes`, most significant bit of each byte first.
pub fn bytes_to_bits(bytes: &[u8]) -> Vec<bool> {
    bytes
        .iter()
        .flat_map(|&b| (0..8).rev().map(move |i| (b >> i) & 1 == 1))
        .collect()
}

/// `bits` packed into bytes, most significant bit first; a last partial byte is padded with 0.
pub fn bits_to_bytes(bits: &[bool]) -> Vec<u8> {
    bits.chunks(8)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .fold(0_u8, |acc, (i, &b)| acc | (u8::from(b) << (7 - i)))
        })
        .collect()
}
