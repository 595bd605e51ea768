//! The IBM Quantum client against a real local HTTP server speaking the Qiskit Runtime and
//! IAM APIs, including their failure answers.

#![cfg(feature = "remote")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ann_keys::entropy::EntropySource;
use ann_keys::ibm::{self, IbmConfig};
use ann_keys::{
    Conditioned, EntropyError, IbmQuantum, JobStatus, PrivateKey, RawBitSource, Secret,
};
use common::{Bits, TestServer};
use serde_json::Value;

const API_KEY: &str = "apikey-TOPSECRET-0123456789";
const TOKEN: &str = "token-TOPSECRET-abcdef";
const CRN: &str = "crn:v1:bluemix:public:quantum-computing:us-east:a/123::instance";

#[derive(Clone)]
struct Script {
    iam: Option<(u16, String)>,
    expires_in: u64,
    submit: Option<(u16, String)>,
    statuses: Vec<&'static str>,
    reason: Option<&'static str>,
    results: Option<(u16, String)>,
    qubits: usize,
    missing_samples: usize,
    stuck: bool,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            iam: None,
            expires_in: 3600,
            submit: None,
            statuses: vec!["Queued", "Running", "Completed"],
            reason: None,
            results: None,
            qubits: 1,
            missing_samples: 0,
            stuck: false,
        }
    }
}

struct State {
    script: Script,
    polls: usize,
    shots: usize,
    bits: Bits,
}

fn ibm_server(script: Script) -> TestServer {
    let state = Arc::new(Mutex::new(State {
        script,
        polls: 0,
        shots: 0,
        bits: Bits::new(42),
    }));
    TestServer::start(move |request| {
        let mut state = state.lock().expect("lock");
        let path = request.path().to_owned();
        match (request.method.as_str(), path.as_str()) {
            ("POST", "/identity/token") => state.script.iam.clone().unwrap_or_else(|| {
                (
                    200,
                    format!(
                        r#"{{"access_token":"{TOKEN}","refresh_token":"not_supported","token_type":"Bearer","expires_in":{},"expiration":1999999999}}"#,
                        state.script.expires_in
                    ),
                )
            }),
            ("POST", "/api/v1/jobs") => {
                if let Some(answer) = state.script.submit.clone() {
                    return answer;
                }
                let body: Value = serde_json::from_str(&request.body).unwrap_or_default();
                state.shots = body["params"]["pubs"][0][2].as_u64().unwrap_or(0) as usize;
                (200, r#"{"id":"d1abc-job-7","backend":"ibm_test"}"#.to_owned())
            }
            ("GET", "/api/v1/jobs/d1abc-job-7") => {
                let statuses = &state.script.statuses;
                let status = statuses[state.polls.min(statuses.len() - 1)];
                state.polls += 1;
                let reason = state
                    .script
                    .reason
                    .map(|r| format!(r#","reason":"{r}""#))
                    .unwrap_or_default();
                (200, format!(r#"{{"id":"d1abc-job-7","state":{{"status":"{status}"{reason}}}}}"#))
            }
            ("GET", "/api/v1/jobs/d1abc-job-7/results") => {
                if let Some(answer) = state.script.results.clone() {
                    return answer;
                }
                let qubits = state.script.qubits;
                let count = state.shots.saturating_sub(state.script.missing_samples);
                let stuck = state.script.stuck;
                let samples: Vec<String> = (0..count)
                    .map(|_| {
                        let v = if stuck { 0 } else { state.bits.next() & ((1 << qubits) - 1) };
                        format!("\"0x{v:x}\"")
                    })
                    .collect();
                (
                    200,
                    format!(
                        r#"{{"results":[{{"data":{{"c":{{"samples":[{}],"num_bits":{qubits}}}}}}}],"metadata":{{}}}}"#,
                        samples.join(",")
                    ),
                )
            }
            _ => (404, r#"{"errors":[{"code":404}]}"#.to_owned()),
        }
    })
}

fn config(server: &TestServer) -> IbmConfig {
    let mut config = IbmConfig::new(Secret::new(API_KEY), CRN, "ibm_test");
    config.base_url = format!("{}/api/v1", server.base);
    config.iam_url = format!("{}/identity/token", server.base);
    config.poll_interval = Duration::from_millis(10);
    config.job_timeout = Duration::from_secs(20);
    config
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains("TOPSECRET"), "a secret leaked: {text}");
}

#[test]
fn end_to_end_private_key_from_a_quantum_job() {
    let server = ibm_server(Script::default());
    let client = IbmQuantum::new(config(&server)).expect("client");
    let mut source = Conditioned::new(client).expect("conditioned");
    let key = PrivateKey::generate(&mut source).expect("key");
    assert_ne!(key.as_bytes(), &[0; 128]);
    assert_eq!(source.name(), "ibm-quantum(ibm_test)+os");

    let requests = server.recorded();
    let iam = &requests[0];
    assert_eq!(iam.path(), "/identity/token");
    assert!(
        iam.body
            .contains("grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey")
    );
    assert!(iam.body.contains(&format!("apikey={API_KEY}")));

    let submit = &requests[1];
    assert_eq!(
        submit.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(submit.header("service-crn"), Some(CRN));
    assert_eq!(
        submit.header("ibm-api-version"),
        Some(ibm::DEFAULT_API_VERSION)
    );
    let body: Value = serde_json::from_str(&submit.body).expect("json body");
    assert_eq!(body["program_id"], "sampler");
    assert_eq!(body["backend"], "ibm_test");
    assert_eq!(body["private"], true);
    assert_eq!(body["params"]["version"], 2);
    let qasm = body["params"]["pubs"][0][0].as_str().expect("qasm");
    assert!(
        qasm.contains("rz(pi/2) $0; sx $0; rz(pi/2) $0; c[0] = measure $0;"),
        "{qasm}"
    );
    // 4 blocks of 32 bytes, ⌈320 / 0.5⌉ = 640 raw bits each, one qubit: 2560 shots.
    assert_eq!(body["params"]["pubs"][0][2], 2560);

    let paths: Vec<&str> = requests.iter().map(|r| r.path()).collect();
    assert_eq!(
        paths[2..],
        [
            "/api/v1/jobs/d1abc-job-7",
            "/api/v1/jobs/d1abc-job-7",
            "/api/v1/jobs/d1abc-job-7",
            "/api/v1/jobs/d1abc-job-7/results"
        ]
    );
    assert!(
        requests[2..]
            .iter()
            .all(|r| r.header("authorization").is_some())
    );
}

#[test]
fn several_qubits_per_shot_multiply_the_bits() {
    let server = ibm_server(Script {
        qubits: 3,
        ..Script::default()
    });
    let mut config = config(&server);
    config.qubits = 3;
    let mut client = IbmQuantum::new(config).expect("client");
    let bits = client.raw_bits(100).expect("bits");
    assert_eq!(bits.len(), 100);
    let submit = &server.recorded()[1];
    let body: Value = serde_json::from_str(&submit.body).expect("json");
    assert_eq!(body["params"]["pubs"][0][2], 34);
    let qasm = body["params"]["pubs"][0][0].as_str().expect("qasm");
    assert!(qasm.contains("bit[3] c;") && qasm.contains("c[2] = measure $2;"));
}

#[test]
fn token_is_reused_until_close_to_expiry_then_refreshed() {
    let server = ibm_server(Script::default());
    let mut client = IbmQuantum::new(config(&server)).expect("client");
    client.raw_bits(64).expect("first job");
    client.raw_bits(64).expect("second job");
    assert_eq!(
        client.token_exchanges(),
        1,
        "a one-hour token serves both jobs"
    );

    // A token with less than the refresh margin left is exchanged again before each use.
    let server = ibm_server(Script {
        expires_in: 120,
        statuses: vec!["Completed"],
        ..Script::default()
    });
    let mut client = IbmQuantum::new(config(&server)).expect("client");
    client.raw_bits(64).expect("first job");
    let after_first = client.token_exchanges();
    client.raw_bits(64).expect("second job");
    assert!(client.token_exchanges() > after_first);
}

fn failure(script: Script) -> EntropyError {
    let server = ibm_server(script);
    let mut config = config(&server);
    config.job_timeout = Duration::from_millis(300);
    let client = IbmQuantum::new(config).expect("client");
    let debug = format!("{client:?}");
    assert_no_secret(&debug);
    let mut source = Conditioned::new(client).expect("conditioned");
    let error = PrivateKey::generate(&mut source).expect_err("must fail");
    assert_no_secret(&error.to_string());
    assert_no_secret(&format!("{error:?}"));
    error
}

fn answer(status: u16, body: &str) -> Option<(u16, String)> {
    Some((status, body.to_owned()))
}

#[test]
fn bad_credentials_are_reported() {
    for status in [400, 401, 403] {
        let error = failure(Script {
            iam: answer(
                status,
                r#"{"errorCode":"BXNIM0415E","errorMessage":"Provided API key could not be found"}"#,
            ),
            ..Script::default()
        });
        assert!(
            matches!(error, EntropyError::BadCredentials { status: s, endpoint: "IAM token", .. } if s == status),
            "{error:?}"
        );
    }
    for status in [401, 403] {
        let error = failure(Script {
            submit: answer(
                status,
                &format!(r#"{{"errors":[{{"message":"bad token {TOKEN}"}}]}}"#),
            ),
            ..Script::default()
        });
        assert!(
            matches!(error, EntropyError::BadCredentials { status: s, endpoint: "submit job", .. } if s == status),
            "{error:?}"
        );
    }
}

#[test]
fn quota_is_reported() {
    for status in [409, 429] {
        let error = failure(Script {
            submit: answer(status, r#"{"errors":[{"message":"quota"}]}"#),
            ..Script::default()
        });
        assert!(
            matches!(error, EntropyError::Quota { status: s, .. } if s == status),
            "{error:?}"
        );
    }
}

#[test]
fn failed_and_cancelled_jobs_are_reported() {
    let error = failure(Script {
        statuses: vec!["Queued", "Failed"],
        reason: Some("Error code 1517; Instruction not in basis gates"),
        ..Script::default()
    });
    assert!(
        matches!(
            error,
            EntropyError::JobFailed {
                status: JobStatus::Failed,
                ..
            }
        ),
        "{error:?}"
    );
    // The server's reason text is not carried into the error.
    assert!(!error.to_string().contains("1517"), "{error}");
    let error = failure(Script {
        statuses: vec!["Running", "Cancelled - Ran too long"],
        ..Script::default()
    });
    assert!(
        matches!(
            &error,
            EntropyError::JobFailed {
                status: JobStatus::Cancelled,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_job_stuck_in_the_queue_times_out() {
    let error = failure(Script {
        statuses: vec!["Queued"],
        ..Script::default()
    });
    assert!(
        matches!(
            &error,
            EntropyError::Timeout {
                status: JobStatus::Queued,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn malformed_answers_are_reported() {
    let cases = [
        Script {
            iam: answer(200, "{not json"),
            ..Script::default()
        },
        Script {
            iam: answer(200, r#"{"expires_in":3600}"#),
            ..Script::default()
        },
        Script {
            submit: answer(200, r#"{"id":"../../admin"}"#),
            ..Script::default()
        },
        Script {
            results: answer(200, r#"{"results":[]}"#),
            ..Script::default()
        },
        Script {
            results: answer(
                200,
                r#"{"results":[{"data":{"c":{"samples":["0x2"],"num_bits":1}}}]}"#,
            ),
            ..Script::default()
        },
        Script {
            results: answer(
                200,
                &format!(
                    r#"{{"results":[{{"data":{{"c":{{"samples":["{TOKEN}"],"num_bits":1}}}}}}]}}"#
                ),
            ),
            ..Script::default()
        },
        Script {
            results: answer(
                200,
                &format!(
                    r#"{{"results":[{{"data":{{"c":{{"samples":[1,2],"num_bits":"{TOKEN}"}}}}}}]}}"#
                ),
            ),
            ..Script::default()
        },
    ];
    for script in cases {
        let error = failure(script);
        assert!(matches!(error, EntropyError::Malformed { .. }), "{error:?}");
    }
}

#[test]
fn too_few_samples_are_reported() {
    let error = failure(Script {
        missing_samples: 10,
        ..Script::default()
    });
    assert!(
        matches!(
            error,
            EntropyError::TooFewBits {
                wanted: 2560,
                got: 2550,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn a_stuck_qubit_is_refused_by_the_health_tests() {
    let error = failure(Script {
        stuck: true,
        ..Script::default()
    });
    assert!(
        matches!(
            &error,
            EntropyError::Health {
                error: ann_keys::HealthError::RepetitionCount { .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("stuck"));
}

#[test]
fn credentials_travel_only_over_tls() {
    let mut config = IbmConfig::new(Secret::new(API_KEY), CRN, "ibm_test");
    config.base_url = "http://quantum.example.com/api/v1".to_owned();
    assert!(matches!(
        IbmQuantum::new(config.clone()),
        Err(EntropyError::InsecureUrl { .. })
    ));
    config.base_url = ibm::DEFAULT_BASE_URL.to_owned();
    config.iam_url = "http://10.1.2.3/identity/token".to_owned();
    assert!(matches!(
        IbmQuantum::new(config.clone()),
        Err(EntropyError::InsecureUrl { .. })
    ));
    config.iam_url = "ftp://127.0.0.1/token".to_owned();
    assert!(matches!(
        IbmQuantum::new(config.clone()),
        Err(EntropyError::InsecureUrl { .. })
    ));
    for loopback in [
        "http://127.0.0.1:9/t",
        "http://localhost:9/t",
        "http://[::1]:9/t",
    ] {
        config.iam_url = loopback.to_owned();
        assert!(IbmQuantum::new(config.clone()).is_ok(), "{loopback}");
    }
    config.iam_url = ibm::DEFAULT_IAM_URL.to_owned();
    let client = IbmQuantum::new(config).expect("https is accepted");
    assert_no_secret(&format!("{client:?}"));
}

#[test]
fn configuration_comes_from_the_environment() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let none = vars(&[]);
    assert!(matches!(
        IbmConfig::from_lookup(&none),
        Err(EntropyError::NoCredentials {
            variable: ibm::ENV_API_KEY,
            ..
        })
    ));
    let no_crn = vars(&[(ibm::ENV_API_KEY, API_KEY)]);
    assert!(matches!(
        IbmConfig::from_lookup(&no_crn),
        Err(EntropyError::NoCredentials {
            variable: ibm::ENV_INSTANCE,
            ..
        })
    ));
    let full = vars(&[
        (ibm::ENV_API_KEY, API_KEY),
        (ibm::ENV_INSTANCE, CRN),
        (ibm::ENV_BACKEND, "ibm_kyiv"),
        (
            ibm::ENV_BASE_URL,
            "https://eu-de.quantum.cloud.ibm.com/api/v1",
        ),
        (ibm::ENV_API_VERSION, "2026-01-01"),
        (ibm::ENV_QUBITS, "4"),
        (ibm::ENV_JOB_TIMEOUT, "90"),
        (ibm::ENV_MIN_ENTROPY, "0.8"),
    ]);
    let config = IbmConfig::from_lookup(&full).expect("config");
    assert_eq!(config.api_key.expose(), API_KEY);
    assert_eq!(config.backend, "ibm_kyiv");
    assert_eq!(
        config.base_url,
        "https://eu-de.quantum.cloud.ibm.com/api/v1"
    );
    assert_eq!(config.iam_url, ibm::DEFAULT_IAM_URL);
    assert_eq!(config.api_version, "2026-01-01");
    assert_eq!(config.qubits, 4);
    assert_eq!(config.job_timeout, Duration::from_secs(90));
    assert_eq!(config.declared_min_entropy, 0.8);
    assert_no_secret(&format!("{config:?}"));
    let bad = vars(&[
        (ibm::ENV_API_KEY, API_KEY),
        (ibm::ENV_INSTANCE, CRN),
        (ibm::ENV_BACKEND, "ibm_kyiv"),
        (ibm::ENV_JOB_TIMEOUT, "soon"),
    ]);
    assert!(matches!(
        IbmConfig::from_lookup(&bad),
        Err(EntropyError::Config {
            setting: ibm::ENV_JOB_TIMEOUT,
            ..
        })
    ));
}
