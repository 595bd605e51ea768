//! ANU Quantum Numbers: raw bits from the Australian National University's vacuum-noise
//! quantum random number generator (`GET {url}?length=N&type=uint8`, header `x-api-key`).
//!
//! The service's bits are already post-processed, but they cannot be checked from here, so
//! they are treated like any raw source: wrap the client in [`crate::Conditioned`].

use std::time::Duration;

use serde::Deserialize;

use crate::entropy::{EntropyError, RawBitSource};
use crate::remote::{self, Lookup, Secret};

const NAME: &str = "anu-qrng";

/// Environment variable holding the API key.
pub const ENV_API_KEY: &str = "ANU_QRNG_API_KEY";
/// Environment variable overriding [`DEFAULT_URL`].
pub const ENV_URL: &str = "ANU_QRNG_URL";
/// Environment variable: timeout of one HTTP request in seconds (default 30).
pub const ENV_HTTP_TIMEOUT: &str = "ANU_QRNG_HTTP_TIMEOUT_SECS";
/// Environment variable: declared min-entropy per raw bit (default 0.5).
pub const ENV_MIN_ENTROPY: &str = "ANU_QRNG_MIN_ENTROPY";

/// The API's address.
pub const DEFAULT_URL: &str = "https://api.quantumnumbers.anu.edu.au";
/// Most numbers the API returns per request.
pub const MAX_LENGTH: usize = 1024;
/// Largest answer read: 1,024 numbers of at most four bytes (`255,`) and a few hundred bytes
/// of fields, with room to spare.
pub const MAX_ANSWER: usize = 16 * 1024;

/// Settings of [`AnuQrng`].
#[derive(Clone, Debug)]
pub struct AnuConfig {
    /// The API key (`x-api-key`).
    pub api_key: Secret,
    /// The API's address.
    pub url: String,
    /// Timeout of each HTTP request.
    pub http_timeout: Duration,
    /// Min-entropy per raw bit claimed for the health tests and the conditioning budget.
    pub declared_min_entropy: f64,
}

impl AnuConfig {
    /// Settings with the defaults, for an API key.
    pub fn new(api_key: Secret) -> Self {
        Self {
            api_key,
            url: DEFAULT_URL.to_owned(),
            http_timeout: Duration::from_secs(30),
            declared_min_entropy: 0.5,
        }
    }

    /// Settings from the process environment (the `ENV_*` variables).
    pub fn from_env() -> Result<Self, EntropyError> {
        Self::from_lookup(&remote::environment)
    }

    /// Settings from any name → value lookup (the `ENV_*` names).
    pub fn from_lookup(get: Lookup<'_>) -> Result<Self, EntropyError> {
        let api_key = get(ENV_API_KEY).ok_or(EntropyError::NoCredentials {
            source_name: NAME,
            variable: ENV_API_KEY,
        })?;
        let mut config = Self::new(Secret::new(api_key));
        if let Some(url) = get(ENV_URL) {
            config.url = url;
        }
        config.http_timeout = remote::seconds_setting(
            NAME,
            ENV_HTTP_TIMEOUT,
            get(ENV_HTTP_TIMEOUT),
            config.http_timeout,
        )?;
        config.declared_min_entropy = remote::min_entropy_setting(
            NAME,
            ENV_MIN_ENTROPY,
            get(ENV_MIN_ENTROPY),
            config.declared_min_entropy,
        )?;
        Ok(config)
    }
}

/// The ANU client (a [`RawBitSource`]).
#[derive(Debug)]
pub struct AnuQrng {
    config: AnuConfig,
    url: reqwest::Url,
    client: reqwest::blocking::Client,
}

/// `length` has been seen both as a number and as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Length {
    Number(u64),
    Text(String),
}

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "type")]
    kind: String,
    length: Length,
    data: Vec<u64>,
    success: bool,
}

impl AnuQrng {
    /// A client for `config`; checks its URL (https, or http to loopback only).
    pub fn new(config: AnuConfig) -> Result<Self, EntropyError> {
        if !(config.declared_min_entropy > 0.0 && config.declared_min_entropy <= 1.0) {
            return Err(EntropyError::Config {
                source_name: NAME,
                setting: ENV_MIN_ENTROPY,
                reason: format!("{} is not in (0, 1]", config.declared_min_entropy),
            });
        }
        let url = remote::secure_url(NAME, &config.url)?;
        let client = remote::client(NAME, config.http_timeout)?;
        Ok(Self {
            config,
            url,
            client,
        })
    }

    /// A client configured from the environment.
    pub fn from_env() -> Result<Self, EntropyError> {
        Self::new(AnuConfig::from_env()?)
    }

    /// `length` random bytes (1..=1024) in one request.
    fn bytes(&self, length: usize) -> Result<Vec<u8>, EntropyError> {
        let endpoint = "random numbers";
        let mut url = self.url.clone();
        url.query_pairs_mut()
            .append_pair("length", &length.to_string())
            .append_pair("type", "uint8");
        let request = self
            .client
            .get(url)
            .header("x-api-key", self.config.api_key.expose())
            .header("Accept", "application/json");
        let response = remote::send(NAME, endpoint, request)?;
        parse_answer(
            &remote::read_body(NAME, endpoint, response, MAX_ANSWER)?,
            length,
        )
    }
}

/// The `length` bytes in an answer of the random-numbers endpoint, checked: at most
/// [`MAX_ANSWER`] bytes of JSON, `success` true, type `uint8`, the declared length that of the
/// data, every value a byte, exactly `length` of them. The client runs it on each answer;
/// it is public so that it can be fuzzed (`fuzz/`) and reused. No server text is quoted in an
/// error.
///
/// # Errors
/// [`EntropyError::TooLarge`], [`EntropyError::Malformed`] or [`EntropyError::TooFewBits`].
pub fn parse_answer(body: &[u8], length: usize) -> Result<Vec<u8>, EntropyError> {
    let endpoint = "random numbers";
    remote::check_size(NAME, endpoint, body, MAX_ANSWER)?;
    let answer: Answer = remote::parse_json(NAME, endpoint, body)?;
    let malformed = |reason: String| EntropyError::Malformed {
        source_name: NAME,
        endpoint,
        reason,
    };
    if !answer.success {
        return Err(malformed("success is false".to_owned()));
    }
    if answer.kind != "uint8" {
        // The server's text is not quoted back: it could hold anything.
        return Err(malformed("the numbers are not of type uint8".to_owned()));
    }
    let declared = match &answer.length {
        Length::Number(n) => Some(*n),
        Length::Text(s) => s.trim().parse().ok(),
    }
    .ok_or_else(|| malformed("length is not a number".to_owned()))?;
    if declared != answer.data.len() as u64 {
        return Err(malformed(format!(
            "length {declared} but {} numbers",
            answer.data.len()
        )));
    }
    let bytes = answer
        .data
        .iter()
        .map(|&v| u8::try_from(v))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| malformed("a uint8 value above 255".to_owned()))?;
    if bytes.len() < length {
        return Err(EntropyError::TooFewBits {
            source_name: NAME,
            wanted: length * 8,
            got: bytes.len() * 8,
        });
    }
    if bytes.len() > length {
        return Err(malformed(format!(
            "{} numbers for {length} asked",
            bytes.len()
        )));
    }
    Ok(bytes)
}

impl RawBitSource for AnuQrng {
    fn name(&self) -> &str {
        NAME
    }

    fn declared_min_entropy(&self) -> f64 {
        self.config.declared_min_entropy
    }

    fn raw_bits(&mut self, count: usize) -> Result<Vec<bool>, EntropyError> {
        let mut bits = Vec::with_capacity(count.next_multiple_of(8));
        let mut remaining = count.div_ceil(8);
        while remaining > 0 {
            let length = remaining.min(MAX_LENGTH);
            let bytes = self.bytes(length)?;
            bits.extend(crate::net::bytes_to_bits(&bytes));
            remaining -= length;
        }
        bits.truncate(count);
        Ok(bits)
    }
}
