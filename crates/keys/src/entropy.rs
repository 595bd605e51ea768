//! Entropy sources, and the path from raw quantum bits to key material.
//!
//! * [`EntropySource`]: anything that fills a buffer with full-entropy bytes or fails with an
//!   [`EntropyError`]. [`OsEntropy`] (the operating system) is the default; [`RngEntropy`]
//!   adapts any `rand_core` [`CryptoRng`].
//! * [`RawBitSource`]: a device that measures bits which are *not* yet fit for keys (a qubit
//!   after a Hadamard gate reads 0 more often than 1). [`Conditioned`] turns one into an
//!   [`EntropySource`]:
//!   1. the raw bits pass the NIST SP 800-90B health tests ([`crate::health`]) for the
//!      source's declared min-entropy per bit, or are refused;
//!   2. each 32-byte output block is conditioned from raw bits carrying at least
//!      256 + 64 bits of assessed min-entropy: `c = SHA-256(CONDITIONING_DOMAIN || block
//!      index || bit count || packed bits)`;
//!   3. and mixed with 32 fresh bytes of local OS randomness:
//!      `out = SHA-256(MIXING_DOMAIN || os_random[32] || c)`.
//!
//!   A remote service therefore can neither choose the key (it does not know the OS bytes)
//!   nor learn it; if the service is honest, the key is as strong as the quantum bits even
//!   if the OS generator were broken. Local randomness is never sent anywhere.

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, Rng, SeedableRng};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::health::{HealthError, HealthTests, min_entropy_of_bias};

/// Domain tag of the conditioning hash.
pub const CONDITIONING_DOMAIN: &[u8] = b"blockchain-ann/entropy/condition/v1";
/// Domain tag of the hash that mixes conditioned remote bits with local OS randomness.
pub const MIXING_DOMAIN: &[u8] = b"blockchain-ann/entropy/mix/v1";
/// Bytes produced per conditioned block (one SHA-256 output).
pub const BLOCK_BYTES: usize = 32;
/// Extra assessed min-entropy, beyond the block's 256 bits, fed into each block.
pub const SECURITY_MARGIN_BITS: usize = 64;
/// Largest request accepted by [`Conditioned`]: keeps a caller's mistake from ordering
/// millions of quantum shots.
pub const MAX_REQUEST_BYTES: usize = 4096;

/// A failure to obtain entropy.
///
/// No variant ever holds an API key, a token, or a response body (which could echo them).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EntropyError {
    /// The operating system's generator failed.
    #[error("operating-system randomness failed: {0}")]
    Os(getrandom::Error),
    /// No credentials were configured.
    #[error("{source_name}: no credentials: set the environment variable {variable}")]
    NoCredentials {
        /// The source.
        source_name: &'static str,
        /// The variable to set.
        variable: &'static str,
    },
    /// A configuration value was invalid.
    #[error("{source_name}: invalid configuration {setting}: {reason}")]
    Config {
        /// The source.
        source_name: &'static str,
        /// The setting (usually an environment variable).
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL would send credentials over plain HTTP to another machine.
    #[error(
        "{source_name}: refusing {url}: credentials travel only over https (plain http is \
         allowed to loopback hosts only)"
    )]
    InsecureUrl {
        /// The source.
        source_name: &'static str,
        /// The URL refused.
        url: String,
    },
    /// The service rejected the credentials.
    #[error("{source_name}: credentials rejected (HTTP {status} from {endpoint})")]
    BadCredentials {
        /// The source.
        source_name: &'static str,
        /// HTTP status (401 or 403; 400 from IBM's token service).
        status: u16,
        /// Which call failed.
        endpoint: &'static str,
    },
    /// The account's quota or rate limit is exhausted.
    #[error(
        "{source_name}: quota or rate limit exhausted (HTTP {status} from {endpoint}); try later"
    )]
    Quota {
        /// The source.
        source_name: &'static str,
        /// HTTP status (409 or 429).
        status: u16,
        /// Which call failed.
        endpoint: &'static str,
    },
    /// The service answered with a redirect, which is never followed: credentials go only
    /// to the configured origin.
    #[error(
        "{source_name}: HTTP {status} from {endpoint} redirects elsewhere; redirects are not \
         followed (configure the final URL)"
    )]
    Redirected {
        /// The source.
        source_name: &'static str,
        /// HTTP status (3xx).
        status: u16,
        /// Which call was redirected.
        endpoint: &'static str,
    },
    /// An answer was larger than the API ever sends.
    #[error("{source_name}: the answer from {endpoint} is over {limit} bytes")]
    TooLarge {
        /// The source.
        source_name: &'static str,
        /// Which call answered.
        endpoint: &'static str,
        /// The cap, in bytes.
        limit: usize,
    },
    /// Any other unexpected HTTP status.
    #[error("{source_name}: unexpected HTTP {status} from {endpoint}")]
    HttpStatus {
        /// The source.
        source_name: &'static str,
        /// HTTP status.
        status: u16,
        /// Which call failed.
        endpoint: &'static str,
    },
    /// The request could not be sent or the answer not received.
    #[error("{source_name}: request to {endpoint} failed: {reason}")]
    Transport {
        /// The source.
        source_name: &'static str,
        /// Which call failed.
        endpoint: &'static str,
        /// The transport error (without the URL's query).
        reason: String,
    },
    /// The answer was not the JSON the API documents.
    #[error("{source_name}: malformed answer from {endpoint}: {reason}")]
    Malformed {
        /// The source.
        source_name: &'static str,
        /// Which call failed.
        endpoint: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The quantum job ended without results. (The job's id and the service's reason text
    /// are not carried: strings from a server never enter an error, which a hostile server
    /// could otherwise fill with a credential.)
    #[error("{source_name}: the job ended with status {status}")]
    JobFailed {
        /// The source.
        source_name: &'static str,
        /// Its final status.
        status: JobStatus,
    },
    /// The job did not finish in time.
    #[error(
        "{source_name}: the job is not finished after {waited_secs:.1} s (last status {status}); raise the timeout or try later"
    )]
    Timeout {
        /// The source.
        source_name: &'static str,
        /// Seconds waited.
        waited_secs: f64,
        /// Last status seen.
        status: JobStatus,
    },
    /// The source returned fewer bits than were needed.
    #[error("{source_name}: {got} bits received, {wanted} needed")]
    TooFewBits {
        /// The source.
        source_name: &'static str,
        /// Bits needed.
        wanted: usize,
        /// Bits received.
        got: usize,
    },
    /// The raw bits failed a health test.
    #[error("{source_name}: raw bits refused: {error}")]
    Health {
        /// The source.
        source_name: String,
        /// The failed test.
        error: HealthError,
    },
    /// More bytes were requested than [`MAX_REQUEST_BYTES`].
    #[error("{requested} bytes requested in one call; at most {MAX_REQUEST_BYTES}")]
    RequestTooLarge {
        /// Bytes requested.
        requested: usize,
    },
}

/// A remote job's status, from a fixed set (the server's own text is never kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Waiting for the device.
    Queued,
    /// Running.
    Running,
    /// Finished with results.
    Completed,
    /// Failed.
    Failed,
    /// Cancelled (by the user or the service).
    Cancelled,
    /// A status this client does not know.
    Unknown,
}

impl JobStatus {
    /// Classifies a status string of IBM's Qiskit Runtime API.
    pub fn from_ibm(status: &str) -> JobStatus {
        match status {
            "Queued" => JobStatus::Queued,
            "Running" => JobStatus::Running,
            "Completed" => JobStatus::Completed,
            "Failed" => JobStatus::Failed,
            s if s.starts_with("Cancel") => JobStatus::Cancelled,
            _ => JobStatus::Unknown,
        }
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
            JobStatus::Unknown => "unknown",
        })
    }
}

/// A source of full-entropy bytes, fit for private keys.
pub trait EntropySource {
    /// A short name for reports (`"os"`, `"ibm-quantum(ibm_kyiv)+os"`, ...).
    fn name(&self) -> &str;

    /// Fills `dest` entirely, or fails; on failure `dest` must not be used.
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError>;
}

/// The operating system's generator (`getrandom`): the default source.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsEntropy;

impl EntropySource for OsEntropy {
    fn name(&self) -> &str {
        "os"
    }

    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        getrandom::fill(dest).map_err(EntropyError::Os)
    }
}

/// Any `rand_core` cryptographic generator, as an [`EntropySource`].
///
/// For deterministic tests and demos, `RngEntropy::new(ChaCha20Rng::from_seed(..))`; for
/// keys, prefer [`OsEntropy`] or a [`Conditioned`] quantum source.
pub struct RngEntropy<R> {
    rng: R,
    name: String,
}

impl<R: CryptoRng> RngEntropy<R> {
    /// Wraps `rng`, reported as `name`.
    pub fn new(rng: R, name: impl Into<String>) -> Self {
        Self {
            rng,
            name: name.into(),
        }
    }
}

impl<R> std::fmt::Debug for RngEntropy<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RngEntropy")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<R: CryptoRng> EntropySource for RngEntropy<R> {
    fn name(&self) -> &str {
        &self.name
    }

    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        self.rng.fill_bytes(dest);
        Ok(())
    }
}

/// A device that measures raw bits, not yet fit for keys (see [`Conditioned`]).
pub trait RawBitSource {
    /// A short name for reports.
    fn name(&self) -> &str;

    /// The min-entropy per bit this source claims (in (0, 1]); the health tests hold it to
    /// this claim and the conditioning budget is computed from it.
    fn declared_min_entropy(&self) -> f64;

    /// Exactly `count` raw bits, in the order they were measured.
    fn raw_bits(&mut self, count: usize) -> Result<Vec<bool>, EntropyError>;
}

/// A [`RawBitSource`] made fit for keys: health tests, SHA-256 conditioning with an honest
/// entropy budget, and mixing with local OS randomness (see the module documentation).
pub struct Conditioned<S> {
    source: S,
    local: Box<dyn EntropySource + Send>,
    tests: HealthTests,
    raw_bits_per_block: usize,
    name: String,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Conditioned<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The source's own `Debug` redacts its credentials; the local generator's state is
        // never shown.
        f.debug_struct("Conditioned")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("raw_bits_per_block", &self.raw_bits_per_block)
            .finish_non_exhaustive()
    }
}

impl<S: RawBitSource> Conditioned<S> {
    /// Wraps `source`, mixing with [`OsEntropy`].
    pub fn new(source: S) -> Result<Self, EntropyError> {
        Self::with_local(source, Box::new(OsEntropy))
    }

    /// Wraps `source`, mixing with `local` (a test can pass a seeded generator).
    pub fn with_local(
        source: S,
        local: Box<dyn EntropySource + Send>,
    ) -> Result<Self, EntropyError> {
        let h = source.declared_min_entropy();
        let tests = HealthTests::new(h).map_err(|error| EntropyError::Health {
            source_name: source.name().to_owned(),
            error,
        })?;
        let name = format!("{}+{}", source.name(), local.name());
        Ok(Self {
            raw_bits_per_block: raw_bits_per_block(h),
            source,
            local,
            tests,
            name,
        })
    }

    /// The wrapped source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The health tests applied (cutoffs for the declared min-entropy).
    pub fn health_tests(&self) -> &HealthTests {
        &self.tests
    }

    /// Raw bits consumed per 32-byte output block: `⌈(256 + 64) / H⌉`.
    pub fn raw_bits_per_block(&self) -> usize {
        self.raw_bits_per_block
    }
}

/// `⌈(256 + 64) / H⌉`: raw bits whose assessed min-entropy covers one 256-bit block plus the
/// 64-bit margin.
pub fn raw_bits_per_block(min_entropy_per_bit: f64) -> usize {
    (((BLOCK_BYTES * 8 + SECURITY_MARGIN_BITS) as f64) / min_entropy_per_bit).ceil() as usize
}

/// `SHA-256(CONDITIONING_DOMAIN || block index (u64 BE) || bit count (u64 BE) || bits packed
/// MSB-first)`.
pub fn condition(block_index: u64, bits: &[bool]) -> [u8; 32] {
    let mut packed = Zeroizing::new(crate::net::bits_to_bytes(bits));
    let mut hasher = Sha256::new();
    hasher.update(CONDITIONING_DOMAIN);
    hasher.update(block_index.to_be_bytes());
    hasher.update((bits.len() as u64).to_be_bytes());
    hasher.update(packed.as_slice());
    packed.zeroize();
    hasher.finalize().into()
}

/// `SHA-256(MIXING_DOMAIN || local[32] || conditioned[32])`.
pub fn mix(local: &[u8; 32], conditioned: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(MIXING_DOMAIN);
    hasher.update(local);
    hasher.update(conditioned);
    hasher.finalize().into()
}

impl<S: RawBitSource> EntropySource for Conditioned<S> {
    fn name(&self) -> &str {
        &self.name
    }

    fn fill(&mut self, dest: &mut [u8]) -> Result<(), EntropyError> {
        if dest.len() > MAX_REQUEST_BYTES {
            return Err(EntropyError::RequestTooLarge {
                requested: dest.len(),
            });
        }
        let blocks = dest.len().div_ceil(BLOCK_BYTES);
        let wanted = blocks * self.raw_bits_per_block;
        // One request for all blocks: a quantum job is slow and rate-limited.
        let raw = Zeroizing::new(self.source.raw_bits(wanted)?);
        if raw.len() != wanted {
            return Err(EntropyError::TooFewBits {
                source_name: "raw bit source",
                wanted,
                got: raw.len(),
            });
        }
        self.tests
            .check(&raw)
            .map_err(|error| EntropyError::Health {
                source_name: self.source.name().to_owned(),
                error,
            })?;
        for (i, (out, bits)) in dest
            .chunks_mut(BLOCK_BYTES)
            .zip(raw.chunks(self.raw_bits_per_block))
            .enumerate()
        {
            let mut local = Zeroizing::new([0_u8; 32]);
            self.local.fill(local.as_mut())?;
            let mut conditioned = Zeroizing::new(condition(i as u64, bits));
            let mut block = Zeroizing::new(mix(&local, &conditioned));
            out.copy_from_slice(&block[..out.len()]);
            conditioned.zeroize();
            block.zeroize();
        }
        Ok(())
    }
}

/// A local simulation of measuring a biased qubit after a Hadamard gate: bit 1 with
/// probability `p_one`. Seedable, for demos and tests (the original's "fake wallets").
#[derive(Clone)]
pub struct SimulatedQubit {
    rng: ChaCha20Rng,
    /// `p_one · 2⁶⁴`, compared with a uniform 64-bit draw (portable; no floats per bit).
    threshold: u128,
    p_one: f64,
    declared_min_entropy: f64,
}

impl std::fmt::Debug for SimulatedQubit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedQubit")
            .field("p_one", &self.p_one)
            .field("declared_min_entropy", &self.declared_min_entropy)
            .finish_non_exhaustive()
    }
}

impl SimulatedQubit {
    /// Readout bias typical of superconducting qubits: 1 is read a little less often.
    pub const TYPICAL_P_ONE: f64 = 0.45;

    /// A qubit that reads 1 with probability `p_one` (clamped to [0, 1]), seeded by `seed`.
    /// It declares the min-entropy its bias really has (floored at 0.01 so that a stuck
    /// qubit still builds, and is then refused by the health tests).
    pub fn new(seed: [u8; 32], p_one: f64) -> Self {
        let p_one = if p_one.is_nan() {
            0.0
        } else {
            p_one.clamp(0.0, 1.0)
        };
        let threshold = (p_one * 2f64.powi(64)) as u128;
        Self {
            rng: ChaCha20Rng::from_seed(seed),
            threshold,
            p_one,
            declared_min_entropy: min_entropy_of_bias(p_one).clamp(0.01, 1.0),
        }
    }

    /// Claims `h` bits of min-entropy per bit instead (to test the health tests).
    pub fn with_declared_min_entropy(mut self, h: f64) -> Self {
        self.declared_min_entropy = h;
        self
    }

    /// The probability of reading 1.
    pub fn p_one(&self) -> f64 {
        self.p_one
    }
}

impl RawBitSource for SimulatedQubit {
    fn name(&self) -> &str {
        "simulated-qubit"
    }

    fn declared_min_entropy(&self) -> f64 {
        self.declared_min_entropy
    }

    fn raw_bits(&mut self, count: usize) -> Result<Vec<bool>, EntropyError> {
        Ok((0..count)
            .map(|_| u128::from(self.rng.next_u64()) < self.threshold)
            .collect())
    }
}
