//! The quantum-entropy clients against hostile servers on 127.0.0.1: redirects to another
//! origin, a 307 that would re-post the API key, a huge or zero token lifetime, bodies without
//! end or with a lying length, and answers that echo a credential. Each is refused with a
//! typed error, no credential reaches a second origin (its server records every request), and
//! no error text holds a secret.

#![cfg(feature = "remote")]

mod common;

use std::time::Duration;

use ann_keys::anu::{self, AnuConfig};
use ann_keys::ibm::{self, IbmConfig};
use ann_keys::{AnuQrng, EntropyError, IbmQuantum, JobStatus, RawBitSource, Secret};
use common::{Body, Reply, TestServer};

const ANU_KEY: &str = "anukey-TOPSECRET-42";
const IBM_KEY: &str = "apikey-TOPSECRET-0123456789";
const TOKEN: &str = "token-TOPSECRET-abcdef";
const CRN: &str = "crn:v1:bluemix:public:quantum-computing:us-east:a/123::instance";

/// A second origin that records what reaches it and answers as if it were the service.
fn elsewhere() -> TestServer {
    TestServer::start(|_| {
        (
            200,
            r#"{"type":"uint8","length":1,"data":[7],"success":true}"#.to_owned(),
        )
    })
}

fn anu(server: &TestServer) -> AnuQrng {
    let mut config = AnuConfig::new(Secret::new(ANU_KEY));
    config.url = server.base.clone();
    config.http_timeout = Duration::from_secs(10);
    AnuQrng::new(config).expect("client")
}

fn assert_no_secret(error: &EntropyError) {
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains("TOPSECRET"), "a secret leaked: {text}");
    }
}

fn anu_failure(reply: impl Fn() -> Reply + Send + Sync + 'static) -> EntropyError {
    let server = TestServer::start_with(move |_| reply());
    let error = anu(&server).raw_bits(8).expect_err("must fail");
    assert_no_secret(&error);
    error
}

#[test]
fn anu_redirects_to_another_origin_are_refused_and_the_key_stays_home() {
    for status in [301, 302, 303, 307, 308] {
        let other = elsewhere();
        let location = format!("{}/?length=1&type=uint8", other.base);
        let error = anu_failure(move || Reply::redirect(status, &location));
        assert!(
            matches!(error, EntropyError::Redirected { status: s, .. } if s == status),
            "{status}: {error:?}"
        );
        assert!(
            other.recorded().is_empty(),
            "{status}: a request reached the second origin"
        );
    }
}

#[test]
fn anu_bodies_past_the_cap_are_refused_without_buffering_them() {
    let error = anu_failure(|| Reply {
        status: 200,
        headers: Vec::new(),
        body: Body::Endless,
    });
    assert!(
        matches!(error, EntropyError::TooLarge { limit, .. } if limit == anu::MAX_ANSWER),
        "{error:?}"
    );
    // A declared length past the cap is refused before the body is read: a raw server that
    // declares 128 MiB and sends two bytes (tiny_http would not send such a header).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut stream, _) = listener.accept().expect("accept");
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 134217728\r\n\r\n{}",
        );
    });
    let mut config = AnuConfig::new(Secret::new(ANU_KEY));
    config.url = base;
    config.http_timeout = Duration::from_secs(10);
    let error = AnuQrng::new(config)
        .expect("client")
        .raw_bits(8)
        .expect_err("must fail");
    server.join().expect("server");
    assert!(
        matches!(error, EntropyError::TooLarge { limit, .. } if limit == anu::MAX_ANSWER),
        "{error:?}"
    );
}

#[test]
fn anu_answers_that_echo_the_key_do_not_put_it_in_the_error() {
    let error = anu_failure(|| {
        Reply::json(
            200,
            format!(r#"{{"type":"{ANU_KEY}","length":1,"data":[1],"success":true}}"#),
        )
    });
    assert!(matches!(error, EntropyError::Malformed { .. }), "{error:?}");
    let error = anu_failure(|| {
        Reply::json(
            200,
            format!(r#"{{"type":"uint8","length":"{ANU_KEY}","data":[1],"success":true}}"#),
        )
    });
    assert!(matches!(error, EntropyError::Malformed { .. }), "{error:?}");
}

/// What the hostile IBM server does at each step.
#[derive(Clone)]
enum Trap {
    /// The token service redirects (307 keeps the method and the form with the API key).
    IamRedirect(u16),
    /// The token service gives this lifetime.
    Lifetime(u64),
    /// The job submission redirects (it would carry the bearer token).
    SubmitRedirect(u16),
    /// The job id is the API key; the status call then fails.
    EchoedJobId,
    /// Job statuses that are the token and the key.
    EchoedStatus,
    /// The results never end.
    EndlessResults,
    /// The token answer never ends.
    EndlessToken,
}

fn ibm_server(trap: Trap, other: &TestServer) -> TestServer {
    let other = other.base.clone();
    TestServer::start_with(move |request| {
        let token = |lifetime: u64| {
            Reply::json(
                200,
                format!(r#"{{"access_token":"{TOKEN}","expires_in":{lifetime}}}"#),
            )
        };
        match (&trap, request.method.as_str(), request.path()) {
            (Trap::IamRedirect(status), "POST", "/identity/token") => {
                Reply::redirect(*status, &format!("{other}/identity/token"))
            }
            (Trap::Lifetime(lifetime), "POST", "/identity/token") => token(*lifetime),
            (Trap::EndlessToken, "POST", "/identity/token") => Reply {
                status: 200,
                headers: Vec::new(),
                body: Body::Endless,
            },
            (_, "POST", "/identity/token") => token(3600),
            (Trap::SubmitRedirect(status), "POST", "/api/v1/jobs") => {
                Reply::redirect(*status, &format!("{other}/api/v1/jobs"))
            }
            (Trap::EchoedJobId, "POST", "/api/v1/jobs") => {
                Reply::json(200, format!(r#"{{"id":"{IBM_KEY}"}}"#))
            }
            (_, "POST", "/api/v1/jobs") => Reply::json(200, r#"{"id":"job-1"}"#),
            (Trap::EchoedStatus, "GET", "/api/v1/jobs/job-1") => Reply::json(
                200,
                format!(r#"{{"state":{{"status":"{TOKEN} {IBM_KEY}","reason":"{TOKEN}"}}}}"#),
            ),
            (_, "GET", "/api/v1/jobs/job-1") => {
                Reply::json(200, r#"{"state":{"status":"Completed"}}"#)
            }
            (Trap::EndlessResults, "GET", "/api/v1/jobs/job-1/results") => Reply {
                status: 200,
                headers: Vec::new(),
                body: Body::Endless,
            },
            _ => Reply::json(404, format!(r#"{{"errors":[{{"message":"{TOKEN}"}}]}}"#)),
        }
    })
}

fn ibm_failure(trap: Trap) -> (EntropyError, TestServer) {
    let other = elsewhere();
    let server = ibm_server(trap, &other);
    let mut config = IbmConfig::new(Secret::new(IBM_KEY), CRN, "ibm_test");
    config.base_url = format!("{}/api/v1", server.base);
    config.iam_url = format!("{}/identity/token", server.base);
    config.poll_interval = Duration::from_millis(10);
    config.job_timeout = Duration::from_millis(300);
    config.http_timeout = Duration::from_secs(10);
    let mut client = IbmQuantum::new(config).expect("client");
    let error = client.raw_bits(64).expect_err("must fail");
    assert_no_secret(&error);
    for request in other.recorded() {
        let seen = format!("{request:?}");
        assert!(
            !seen.contains("TOPSECRET"),
            "a credential reached the second origin: {seen}"
        );
    }
    (error, other)
}

#[test]
fn ibm_redirects_never_carry_the_api_key_or_the_token_elsewhere() {
    for status in [302, 307, 308] {
        let (error, other) = ibm_failure(Trap::IamRedirect(status));
        assert!(
            matches!(error, EntropyError::Redirected { status: s, endpoint: "IAM token", .. } if s == status),
            "{error:?}"
        );
        assert!(other.recorded().is_empty());
        let (error, other) = ibm_failure(Trap::SubmitRedirect(status));
        assert!(
            matches!(error, EntropyError::Redirected { status: s, endpoint: "submit job", .. } if s == status),
            "{error:?}"
        );
        assert!(other.recorded().is_empty());
    }
}

#[test]
fn ibm_token_lifetimes_out_of_range_are_refused_without_a_panic() {
    for lifetime in [0, ibm::MAX_TOKEN_LIFETIME.as_secs() + 1, u64::MAX] {
        let (error, _) = ibm_failure(Trap::Lifetime(lifetime));
        assert!(
            matches!(
                error,
                EntropyError::Malformed {
                    endpoint: "IAM token",
                    ..
                }
            ),
            "{lifetime}: {error:?}"
        );
    }
}

#[test]
fn ibm_endless_bodies_stop_at_their_caps() {
    let (error, _) = ibm_failure(Trap::EndlessToken);
    assert!(
        matches!(error, EntropyError::TooLarge { endpoint: "IAM token", limit, .. } if limit == ibm::MAX_TOKEN_ANSWER),
        "{error:?}"
    );
    let (error, _) = ibm_failure(Trap::EndlessResults);
    assert!(
        matches!(error, EntropyError::TooLarge { endpoint: "job results", limit, .. } if limit == ibm::max_results_answer(64)),
        "{error:?}"
    );
}

#[test]
fn ibm_strings_from_the_server_never_enter_an_error() {
    // The job id echoes the API key (it passes the id's character rule): the next call fails,
    // and the error does not name the job.
    let (error, _) = ibm_failure(Trap::EchoedJobId);
    assert!(
        matches!(error, EntropyError::HttpStatus { status: 404, .. }),
        "{error:?}"
    );
    // A status made of the token and the key is an unknown status from the fixed set.
    let (error, _) = ibm_failure(Trap::EchoedStatus);
    assert!(
        matches!(
            error,
            EntropyError::Timeout {
                status: JobStatus::Unknown,
                ..
            }
        ),
        "{error:?}"
    );
}

/// A TLS server on 127.0.0.1 whose certificate names 127.0.0.1 but is signed by no authority
/// that the platform trusts (self-signed, `tests/vectors/untrusted_tls_*.pem`): the client
/// ends the handshake, the API key never leaves it, and the error is a transport error. This
/// is the client's TLS (rustls with ring, the platform verifier) refusing, not a URL rule.
#[test]
fn a_server_whose_certificate_does_not_verify_never_sees_the_key() {
    use std::io::Read;
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let cert = CertificateDer::from_pem_slice(include_bytes!("vectors/untrusted_tls_cert.pem"))
        .expect("certificate");
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("vectors/untrusted_tls_key.pem"))
        .expect("private key");
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .expect("server configuration");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().expect("accept");
        tcp.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("read timeout");
        let connection = rustls::ServerConnection::new(Arc::new(tls)).expect("connection");
        let mut stream = rustls::StreamOwned::new(connection, tcp);
        let mut request = Vec::new();
        let outcome = stream.read_to_end(&mut request);
        (outcome.map_err(|e| e.to_string()), request)
    });

    let mut config = AnuConfig::new(Secret::new(ANU_KEY));
    config.url = format!("https://127.0.0.1:{port}");
    config.http_timeout = Duration::from_secs(10);
    let error = AnuQrng::new(config)
        .expect("client")
        .raw_bits(8)
        .expect_err("an untrusted certificate must fail");
    assert!(matches!(error, EntropyError::Transport { .. }), "{error:?}");
    // The reason names the certificate (which check of the chain fails first depends on the
    // machine's trusted roots), not a connection that never happened.
    assert!(
        error.to_string().contains("invalid peer certificate"),
        "refused for its certificate: {error}"
    );
    assert_no_secret(&error);

    let (handshake, request) = server.join().expect("server thread");
    let alert = handshake.expect_err("the handshake must not complete");
    assert!(
        request.is_empty(),
        "the server read {} bytes of a request",
        request.len()
    );
    assert!(
        alert.contains("received fatal alert"),
        "the client should end the handshake with an alert: {alert}"
    );
}
