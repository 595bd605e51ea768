//! The ANU Quantum Numbers client against a real local HTTP server, including failures.

#![cfg(feature = "remote")]

mod common;

use std::sync::{Arc, Mutex};

use ann_keys::anu::{self, AnuConfig};
use ann_keys::{AnuQrng, Conditioned, EntropyError, PrivateKey, RawBitSource, Secret};
use common::{Bits, TestServer};

const API_KEY: &str = "anukey-TOPSECRET-42";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    NumericLength,
    StringLength,
    Status(u16),
    NotJson,
    Unsuccessful,
    Short,
    LengthMismatch,
    OutOfRange,
}

fn anu_server(mode: Mode) -> TestServer {
    let bits = Arc::new(Mutex::new(Bits::new(7)));
    TestServer::start(move |request| {
        if request.header("x-api-key") != Some(API_KEY) {
            return (403, r#"{"message":"Forbidden"}"#.to_owned());
        }
        let length: usize = request
            .url
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("length="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut bits = bits.lock().expect("lock");
        let n = if mode == Mode::Short {
            length / 2
        } else {
            length
        };
        let mut data: Vec<String> = (0..n).map(|_| (bits.next() & 0xff).to_string()).collect();
        if mode == Mode::OutOfRange {
            data[0] = "256".to_owned();
        }
        let data = data.join(",");
        let declared = if mode == Mode::LengthMismatch {
            length + 1
        } else {
            n
        };
        match mode {
            Mode::Status(status) => (status, r#"{"message":"Limit Exceeded"}"#.to_owned()),
            Mode::NotJson => (200, "<html>gateway</html>".to_owned()),
            Mode::Unsuccessful => (200, r#"{"success":false,"message":"error"}"#.to_owned()),
            Mode::StringLength => (
                200,
                format!(
                    r#"{{"type":"uint8","length":"{declared}","data":[{data}],"success":true}}"#
                ),
            ),
            _ => (
                200,
                format!(r#"{{"type":"uint8","length":{declared},"data":[{data}],"success":true}}"#),
            ),
        }
    })
}

fn client(server: &TestServer) -> AnuQrng {
    let mut config = AnuConfig::new(Secret::new(API_KEY));
    config.url = server.base.clone();
    AnuQrng::new(config).expect("client")
}

#[test]
fn end_to_end_private_key_with_numeric_or_string_length() {
    for mode in [Mode::NumericLength, Mode::StringLength] {
        let server = anu_server(mode);
        let mut source = Conditioned::new(client(&server)).expect("conditioned");
        let key = PrivateKey::generate(&mut source).expect("key");
        assert_ne!(key.as_bytes(), &[0; 128]);
        let requests = server.recorded();
        // 4 blocks × 640 bits = 320 bytes, one request.
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].url, "/?length=320&type=uint8");
        assert_eq!(requests[0].header("x-api-key"), Some(API_KEY));
    }
}

#[test]
fn large_requests_are_split_at_1024_numbers() {
    let server = anu_server(Mode::NumericLength);
    let mut client = client(&server);
    let bits = client.raw_bits(2000 * 8 + 3).expect("bits");
    assert_eq!(bits.len(), 2000 * 8 + 3);
    let urls: Vec<String> = server.recorded().into_iter().map(|r| r.url).collect();
    assert_eq!(
        urls,
        ["/?length=1024&type=uint8", "/?length=977&type=uint8"]
    );
}

fn failure(mode: Mode) -> EntropyError {
    let server = anu_server(mode);
    let client = client(&server);
    assert!(!format!("{client:?}").contains("TOPSECRET"));
    let mut source = Conditioned::new(client).expect("conditioned");
    let error = PrivateKey::generate(&mut source).expect_err("must fail");
    assert!(!error.to_string().contains("TOPSECRET"));
    assert!(!format!("{error:?}").contains("TOPSECRET"));
    error
}

#[test]
fn failures_are_typed() {
    assert!(matches!(
        failure(Mode::Status(403)),
        EntropyError::BadCredentials { status: 403, .. }
    ));
    assert!(matches!(
        failure(Mode::Status(401)),
        EntropyError::BadCredentials { status: 401, .. }
    ));
    assert!(matches!(
        failure(Mode::Status(429)),
        EntropyError::Quota { status: 429, .. }
    ));
    assert!(matches!(
        failure(Mode::Status(500)),
        EntropyError::HttpStatus { status: 500, .. }
    ));
    assert!(matches!(
        failure(Mode::NotJson),
        EntropyError::Malformed { .. }
    ));
    assert!(matches!(
        failure(Mode::Unsuccessful),
        EntropyError::Malformed { .. }
    ));
    assert!(matches!(
        failure(Mode::LengthMismatch),
        EntropyError::Malformed { .. }
    ));
    assert!(matches!(
        failure(Mode::OutOfRange),
        EntropyError::Malformed { .. }
    ));
    assert!(matches!(
        failure(Mode::Short),
        EntropyError::TooFewBits {
            wanted: 2560,
            got: 1280,
            ..
        }
    ));
}

#[test]
fn a_wrong_key_is_rejected_by_the_server() {
    let server = anu_server(Mode::NumericLength);
    let mut config = AnuConfig::new(Secret::new("wrong"));
    config.url = server.base.clone();
    let mut client = AnuQrng::new(config).expect("client");
    assert!(matches!(
        client.raw_bits(8),
        Err(EntropyError::BadCredentials { status: 403, .. })
    ));
}

#[test]
fn no_credentials_and_insecure_urls_are_refused() {
    assert!(matches!(
        AnuConfig::from_lookup(&|_: &str| None),
        Err(EntropyError::NoCredentials {
            variable: anu::ENV_API_KEY,
            ..
        })
    ));
    let mut config = AnuConfig::new(Secret::new(API_KEY));
    config.url = "http://api.quantumnumbers.anu.edu.au".to_owned();
    assert!(matches!(
        AnuQrng::new(config),
        Err(EntropyError::InsecureUrl { .. })
    ));
    let config = AnuConfig::from_lookup(&|name: &str| {
        (name == anu::ENV_API_KEY).then(|| API_KEY.to_owned())
    })
    .expect("config");
    assert_eq!(config.url, anu::DEFAULT_URL);
    assert!(!format!("{config:?}").contains("TOPSECRET"));
    assert!(AnuQrng::new(config).is_ok());
}

#[test]
fn a_connection_failure_is_a_transport_error() {
    // Bind, learn the port, close: nothing listens there any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut config = AnuConfig::new(Secret::new(API_KEY));
    config.url = format!("http://127.0.0.1:{port}");
    let mut client = AnuQrng::new(config).expect("client");
    let error = client.raw_bits(8).expect_err("nothing listens");
    assert!(matches!(error, EntropyError::Transport { .. }), "{error:?}");
    assert!(!error.to_string().contains("TOPSECRET"));
}
