//! IBM Quantum (Qiskit Runtime REST API): raw bits from qubits put in superposition.
//!
//! The original project measured one qubit after a Hadamard gate with `qiskit`'s retired
//! `IBMQ` API. This client speaks the current REST API directly:
//!
//! 1. exchanges the API key for an IAM access token (`POST {iam_url}`), cached and refreshed
//!    [`TOKEN_REFRESH_MARGIN`] before it expires;
//! 2. submits a sampler job (`POST {base_url}/jobs`) whose ISA circuit applies a Hadamard
//!    (`rz(π/2) sx rz(π/2)`, native gates only) to each of `qubits` physical qubits and
//!    measures them, with `private: true` so the results can be read once only;
//! 3. polls `GET {base_url}/jobs/{id}` until a final status or [`IbmConfig::job_timeout`];
//! 4. reads the per-shot samples once (`GET {base_url}/jobs/{id}/results`).
//!
//! The bits are raw: wrap the client in [`crate::Conditioned`] before using them.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::entropy::{EntropyError, JobStatus, RawBitSource};
use crate::remote::{self, Lookup, Secret};

const NAME: &str = "ibm-quantum";

/// Environment variable holding the IBM Cloud API key.
pub const ENV_API_KEY: &str = "IBM_QUANTUM_API_KEY";
/// Environment variable holding the instance CRN.
pub const ENV_INSTANCE: &str = "IBM_QUANTUM_INSTANCE";
/// Environment variable naming the backend (e.g. `ibm_kyiv`).
pub const ENV_BACKEND: &str = "IBM_QUANTUM_BACKEND";
/// Environment variable overriding [`DEFAULT_BASE_URL`].
pub const ENV_BASE_URL: &str = "IBM_QUANTUM_BASE_URL";
/// Environment variable overriding [`DEFAULT_IAM_URL`].
pub const ENV_IAM_URL: &str = "IBM_QUANTUM_IAM_URL";
/// Environment variable overriding [`DEFAULT_API_VERSION`].
pub const ENV_API_VERSION: &str = "IBM_QUANTUM_API_VERSION";
/// Environment variable: qubits measured per shot (default 1).
pub const ENV_QUBITS: &str = "IBM_QUANTUM_QUBITS";
/// Environment variable: seconds to wait for a job (default 600).
pub const ENV_JOB_TIMEOUT: &str = "IBM_QUANTUM_JOB_TIMEOUT_SECS";
/// Environment variable: seconds between polls (default 5).
pub const ENV_POLL_INTERVAL: &str = "IBM_QUANTUM_POLL_SECS";
/// Environment variable: timeout of one HTTP request in seconds (default 30).
pub const ENV_HTTP_TIMEOUT: &str = "IBM_QUANTUM_HTTP_TIMEOUT_SECS";
/// Environment variable: declared min-entropy per raw bit (default 0.5).
pub const ENV_MIN_ENTROPY: &str = "IBM_QUANTUM_MIN_ENTROPY";

/// The Qiskit Runtime API.
pub const DEFAULT_BASE_URL: &str = "https://quantum.cloud.ibm.com/api/v1";
/// IBM Cloud's token service.
pub const DEFAULT_IAM_URL: &str = "https://iam.cloud.ibm.com/identity/token";
/// `IBM-API-Version` header sent with every call.
pub const DEFAULT_API_VERSION: &str = "2025-05-01";
/// A token is refreshed when it has less than this left.
pub const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Most qubits measured per shot.
pub const MAX_QUBITS: usize = 64;
/// Most raw bits requested in one job.
pub const MAX_BITS_PER_JOB: usize = 1 << 20;
/// Longest token lifetime accepted from IAM (it gives an hour).
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Largest IAM token answer read (an access token is a few kilobytes).
pub const MAX_TOKEN_ANSWER: usize = 64 * 1024;
/// Largest answer read from the job-creation and job-status calls.
pub const MAX_SMALL_ANSWER: usize = 64 * 1024;

/// Largest results answer read for a job of `shots` shots: each sample is a quoted hex
/// number of at most 64 bits (`"0x` + 16 digits + `",`, 21 bytes; 40 allowed), plus 64 KiB
/// of metadata.
pub fn max_results_answer(shots: usize) -> usize {
    shots.saturating_mul(40).saturating_add(64 * 1024)
}

/// Settings of [`IbmQuantum`].
#[derive(Clone, Debug)]
pub struct IbmConfig {
    /// IBM Cloud API key.
    pub api_key: Secret,
    /// Instance CRN (`Service-CRN` header).
    pub instance_crn: String,
    /// Backend name.
    pub backend: String,
    /// Qiskit Runtime base URL.
    pub base_url: String,
    /// IAM token URL.
    pub iam_url: String,
    /// `IBM-API-Version` header.
    pub api_version: String,
    /// Physical qubits 0..qubits measured per shot (bits per shot).
    pub qubits: usize,
    /// How long to wait for a job (queues can be long).
    pub job_timeout: Duration,
    /// Pause between status polls.
    pub poll_interval: Duration,
    /// Timeout of each HTTP request.
    pub http_timeout: Duration,
    /// Min-entropy per raw bit claimed for the health tests and the conditioning budget.
    /// Readout favours 0, so the default claims only 0.5 (a bit read 1 with probability
    /// between 0.29 and 0.71).
    pub declared_min_entropy: f64,
}

impl IbmConfig {
    /// Settings with the defaults, for an API key, instance and backend.
    pub fn new(api_key: Secret, instance_crn: &str, backend: &str) -> Self {
        Self {
            api_key,
            instance_crn: instance_crn.to_owned(),
            backend: backend.to_owned(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            iam_url: DEFAULT_IAM_URL.to_owned(),
            api_version: DEFAULT_API_VERSION.to_owned(),
            qubits: 1,
            job_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(5),
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
        let required = |variable: &'static str| {
            get(variable).ok_or(EntropyError::NoCredentials {
                source_name: NAME,
                variable,
            })
        };
        let api_key = Secret::new(required(ENV_API_KEY)?);
        let mut config = Self::new(api_key, &required(ENV_INSTANCE)?, &required(ENV_BACKEND)?);
        if let Some(url) = get(ENV_BASE_URL) {
            config.base_url = url;
        }
        if let Some(url) = get(ENV_IAM_URL) {
            config.iam_url = url;
        }
        if let Some(version) = get(ENV_API_VERSION) {
            config.api_version = version;
        }
        if let Some(qubits) = get(ENV_QUBITS) {
            config.qubits = qubits.trim().parse().map_err(|_| EntropyError::Config {
                source_name: NAME,
                setting: ENV_QUBITS,
                reason: format!("{qubits:?} is not a whole number"),
            })?;
        }
        config.job_timeout = remote::seconds_setting(
            NAME,
            ENV_JOB_TIMEOUT,
            get(ENV_JOB_TIMEOUT),
            config.job_timeout,
        )?;
        config.poll_interval = remote::seconds_setting(
            NAME,
            ENV_POLL_INTERVAL,
            get(ENV_POLL_INTERVAL),
            config.poll_interval,
        )?;
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

struct Token {
    value: Secret,
    expires_at: Instant,
}

/// The IBM Quantum client (a [`RawBitSource`]).
pub struct IbmQuantum {
    config: IbmConfig,
    base_url: String,
    iam_url: reqwest::Url,
    client: reqwest::blocking::Client,
    token: Option<Token>,
    token_exchanges: usize,
    name: String,
}

impl std::fmt::Debug for IbmQuantum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IbmQuantum")
            .field("config", &self.config)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Secret,
    expires_in: u64,
}

#[derive(Deserialize)]
struct JobCreated {
    id: String,
}

#[derive(Deserialize)]
struct JobState {
    status: String,
}

#[derive(Deserialize)]
struct JobAnswer {
    state: JobState,
}

#[derive(Deserialize)]
struct Results {
    results: Vec<PubResult>,
}

#[derive(Deserialize)]
struct PubResult {
    data: PubData,
}

#[derive(Deserialize)]
struct PubData {
    c: Register,
}

#[derive(Deserialize)]
struct Register {
    samples: Vec<String>,
    num_bits: usize,
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

/// The ISA circuit: a Hadamard (`rz(π/2) sx rz(π/2)`) on each physical qubit `0..qubits`,
/// each measured into classical bit `c[q]`.
pub fn hadamard_circuit(qubits: usize) -> String {
    let mut qasm = format!("OPENQASM 3.0; include \"stdgates.inc\"; bit[{qubits}] c;");
    for q in 0..qubits {
        qasm.push_str(&format!(
            " rz(pi/2) ${q}; sx ${q}; rz(pi/2) ${q}; c[{q}] = measure ${q};"
        ));
    }
    qasm
}

impl IbmQuantum {
    /// A client for `config`; checks its URLs (https, or http to loopback only).
    pub fn new(config: IbmConfig) -> Result<Self, EntropyError> {
        if config.qubits == 0 || config.qubits > MAX_QUBITS {
            return Err(EntropyError::Config {
                source_name: NAME,
                setting: ENV_QUBITS,
                reason: format!("{} qubits; must be 1 to {MAX_QUBITS}", config.qubits),
            });
        }
        if !(config.declared_min_entropy > 0.0 && config.declared_min_entropy <= 1.0) {
            return Err(EntropyError::Config {
                source_name: NAME,
                setting: ENV_MIN_ENTROPY,
                reason: format!("{} is not in (0, 1]", config.declared_min_entropy),
            });
        }
        let base = remote::secure_url(NAME, &config.base_url)?;
        let iam_url = remote::secure_url(NAME, &config.iam_url)?;
        let client = remote::client(NAME, config.http_timeout)?;
        Ok(Self {
            name: format!("{NAME}({})", config.backend),
            base_url: base.as_str().trim_end_matches('/').to_owned(),
            iam_url,
            client,
            token: None,
            token_exchanges: 0,
            config,
        })
    }

    /// A client configured from the environment.
    pub fn from_env() -> Result<Self, EntropyError> {
        Self::new(IbmConfig::from_env()?)
    }

    /// How many times the API key has been exchanged for a token (for tests and reports).
    pub fn token_exchanges(&self) -> usize {
        self.token_exchanges
    }

    /// A valid access token, exchanged or refreshed when needed.
    fn token(&mut self) -> Result<Secret, EntropyError> {
        if let Some(token) = &self.token
            && token
                .expires_at
                .checked_duration_since(Instant::now())
                .is_some_and(|left| left > TOKEN_REFRESH_MARGIN)
        {
            return Ok(token.value.clone());
        }
        self.token = None;
        let form = [
            ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
            ("apikey", self.config.api_key.expose()),
        ];
        let request = self
            .client
            .post(self.iam_url.clone())
            .header("Accept", "application/json")
            .form(&form);
        let endpoint = "IAM token";
        let response = match remote::send(NAME, endpoint, request) {
            // IAM answers 400 to an unknown or revoked API key.
            Err(EntropyError::HttpStatus { status: 400, .. }) => {
                return Err(EntropyError::BadCredentials {
                    source_name: NAME,
                    status: 400,
                    endpoint,
                });
            }
            other => other?,
        };
        let (token, lifetime) = parse_token_answer(&remote::read_body(
            NAME,
            endpoint,
            response,
            MAX_TOKEN_ANSWER,
        )?)?;
        self.token_exchanges += 1;
        self.token = Some(Token {
            value: token.clone(),
            expires_at: Instant::now() + lifetime,
        });
        Ok(token)
    }

    fn runtime_request(
        &mut self,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::blocking::RequestBuilder, EntropyError> {
        let token = self.token()?;
        Ok(self
            .client
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(token.expose())
            .header("Service-CRN", &self.config.instance_crn)
            .header("IBM-API-Version", &self.config.api_version)
            .header("Accept", "application/json"))
    }

    fn submit(&mut self, shots: usize) -> Result<String, EntropyError> {
        let body = serde_json::json!({
            "program_id": "sampler",
            "backend": self.config.backend,
            "private": true,
            "params": {
                "pubs": [[hadamard_circuit(self.config.qubits), null, shots]],
                "version": 2,
            },
        });
        let request = self
            .runtime_request(reqwest::Method::POST, "/jobs")?
            .json(&body);
        let response = remote::send(NAME, "submit job", request)?;
        parse_job_created(&remote::read_body(
            NAME,
            "submit job",
            response,
            MAX_SMALL_ANSWER,
        )?)
    }

    fn wait(&mut self, job_id: &str) -> Result<(), EntropyError> {
        let started = Instant::now();
        loop {
            let request = self.runtime_request(reqwest::Method::GET, &format!("/jobs/{job_id}"))?;
            let response = remote::send(NAME, "job status", request)?;
            let status = parse_job_status(&remote::read_body(
                NAME,
                "job status",
                response,
                MAX_SMALL_ANSWER,
            )?)?;
            match status {
                JobStatus::Completed => return Ok(()),
                JobStatus::Failed | JobStatus::Cancelled => {
                    return Err(EntropyError::JobFailed {
                        source_name: NAME,
                        status,
                    });
                }
                JobStatus::Queued | JobStatus::Running | JobStatus::Unknown => {}
            }
            let waited = started.elapsed();
            if waited + self.config.poll_interval > self.config.job_timeout {
                return Err(EntropyError::Timeout {
                    source_name: NAME,
                    waited_secs: waited.as_secs_f64(),
                    status,
                });
            }
            std::thread::sleep(self.config.poll_interval);
        }
    }

    fn results(&mut self, job_id: &str, shots: usize) -> Result<Vec<bool>, EntropyError> {
        let endpoint = "job results";
        let request =
            self.runtime_request(reqwest::Method::GET, &format!("/jobs/{job_id}/results"))?;
        let response = remote::send(NAME, endpoint, request)?;
        let body = remote::read_body(NAME, endpoint, response, max_results_answer(shots))?;
        parse_results(&body, self.config.qubits, shots)
    }
}

/// The access token and its lifetime in an IAM answer, checked: at most
/// [`MAX_TOKEN_ANSWER`] bytes, a non-empty `access_token`, `expires_in` between 1 s and
/// [`MAX_TOKEN_LIFETIME`] (past a day is no lifetime IAM gives, and added to an instant it
/// could overflow; a short one is legitimate, and the token is then exchanged before each
/// use). The client runs it on each answer; public so that it can be fuzzed. No server text
/// is quoted in an error.
///
/// # Errors
/// [`EntropyError::TooLarge`] or [`EntropyError::Malformed`].
pub fn parse_token_answer(body: &[u8]) -> Result<(Secret, Duration), EntropyError> {
    let endpoint = "IAM token";
    remote::check_size(NAME, endpoint, body, MAX_TOKEN_ANSWER)?;
    let answer: TokenAnswer = remote::parse_json(NAME, endpoint, body)?;
    if answer.access_token.expose().is_empty() {
        return Err(EntropyError::Malformed {
            source_name: NAME,
            endpoint,
            reason: "empty access_token".to_owned(),
        });
    }
    let lifetime = Duration::from_secs(answer.expires_in);
    if lifetime.is_zero() || lifetime > MAX_TOKEN_LIFETIME {
        return Err(EntropyError::Malformed {
            source_name: NAME,
            endpoint,
            reason: format!(
                "expires_in is not between 1 s and {} s",
                MAX_TOKEN_LIFETIME.as_secs()
            ),
        });
    }
    Ok((answer.access_token, lifetime))
}

/// The job id in the answer to a job submission: at most [`MAX_SMALL_ANSWER`] bytes, and an
/// id of 1 to 128 letters, digits, `-` or `_` (it goes into later URLs' paths).
///
/// # Errors
/// [`EntropyError::TooLarge`] or [`EntropyError::Malformed`].
pub fn parse_job_created(body: &[u8]) -> Result<String, EntropyError> {
    let endpoint = "submit job";
    remote::check_size(NAME, endpoint, body, MAX_SMALL_ANSWER)?;
    let created: JobCreated = remote::parse_json(NAME, endpoint, body)?;
    let plausible = !created.id.is_empty()
        && created.id.len() <= 128
        && created
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plausible {
        return Err(EntropyError::Malformed {
            source_name: NAME,
            endpoint,
            reason: "job id is not 1 to 128 letters, digits, '-' or '_'".to_owned(),
        });
    }
    Ok(created.id)
}

/// The status in a job-status answer (at most [`MAX_SMALL_ANSWER`] bytes), as one of the
/// fixed [`JobStatus`] values: the server's string itself is never kept.
///
/// # Errors
/// [`EntropyError::TooLarge`] or [`EntropyError::Malformed`].
pub fn parse_job_status(body: &[u8]) -> Result<JobStatus, EntropyError> {
    let endpoint = "job status";
    remote::check_size(NAME, endpoint, body, MAX_SMALL_ANSWER)?;
    let job: JobAnswer = remote::parse_json(NAME, endpoint, body)?;
    Ok(JobStatus::from_ibm(&job.state.status))
}

/// The measured bits in a results answer for one circuit of `qubits` qubits run `shots`
/// times: at most [`max_results_answer`]`(shots)` bytes, one result, a register `c` of
/// `qubits` bits, at most `shots` samples, each a hex number of at most `qubits` bits. Bit `q`
/// of each shot, shot by shot.
///
/// # Errors
/// [`EntropyError::Config`] for `qubits` outside `1..=MAX_QUBITS`; [`EntropyError::TooLarge`]
/// or [`EntropyError::Malformed`] for the answer.
pub fn parse_results(body: &[u8], qubits: usize, shots: usize) -> Result<Vec<bool>, EntropyError> {
    let endpoint = "job results";
    if qubits == 0 || qubits > MAX_QUBITS {
        return Err(EntropyError::Config {
            source_name: NAME,
            setting: ENV_QUBITS,
            reason: format!("{qubits} qubits; must be 1 to {MAX_QUBITS}"),
        });
    }
    remote::check_size(NAME, endpoint, body, max_results_answer(shots))?;
    let results: Results = remote::parse_json(NAME, endpoint, body)?;
    let malformed = |reason: String| EntropyError::Malformed {
        source_name: NAME,
        endpoint,
        reason,
    };
    let [result] = results.results.as_slice() else {
        return Err(malformed(format!(
            "{} results for one circuit",
            results.results.len()
        )));
    };
    let register = &result.data.c;
    if register.num_bits != qubits {
        return Err(malformed(format!(
            "register c has {} bits, the circuit measures {qubits}",
            register.num_bits
        )));
    }
    if register.samples.len() > shots {
        return Err(malformed(format!(
            "{} samples for {shots} shots",
            register.samples.len()
        )));
    }
    let mut bits = Vec::with_capacity(register.samples.len() * qubits);
    for (shot, sample) in register.samples.iter().enumerate() {
        let value = sample
            .strip_prefix("0x")
            .and_then(|hex| u128::from_str_radix(hex, 16).ok())
            // qubits <= MAX_QUBITS = 64 < 128: the shift is defined.
            .filter(|&v| v >> qubits == 0)
            .ok_or_else(|| {
                malformed(format!(
                    "sample {shot} is not a hex number of at most {qubits} bits"
                ))
            })?;
        bits.extend((0..qubits).map(|q| (value >> q) & 1 == 1));
    }
    Ok(bits)
}

impl RawBitSource for IbmQuantum {
    fn name(&self) -> &str {
        &self.name
    }

    fn declared_min_entropy(&self) -> f64 {
        self.config.declared_min_entropy
    }

    fn raw_bits(&mut self, count: usize) -> Result<Vec<bool>, EntropyError> {
        if count > MAX_BITS_PER_JOB {
            return Err(EntropyError::Config {
                source_name: NAME,
                setting: "bits per job",
                reason: format!("{count} bits requested, at most {MAX_BITS_PER_JOB}"),
            });
        }
        if count == 0 {
            return Ok(Vec::new());
        }
        let shots = count.div_ceil(self.config.qubits);
        let job_id = self.submit(shots)?;
        self.wait(&job_id)?;
        let mut bits = self.results(&job_id, shots)?;
        if bits.len() < count {
            return Err(EntropyError::TooFewBits {
                source_name: NAME,
                wanted: count,
                got: bits.len(),
            });
        }
        bits.truncate(count);
        Ok(bits)
    }
}
