//! What the remote quantum sources share: secrets, URL policy, HTTP status mapping.

use std::time::Duration;

use reqwest::Url;

use crate::entropy::EntropyError;
pub use crate::secret::{Lookup, Secret, environment};

/// Parses `url` and accepts it only if credentials sent there travel over TLS: `https`, or
/// plain `http` to a loopback host (a local test server).
pub fn secure_url(source_name: &'static str, url: &str) -> Result<Url, EntropyError> {
    let insecure = || EntropyError::InsecureUrl {
        source_name,
        url: url.to_owned(),
    };
    let parsed = Url::parse(url).map_err(|e| EntropyError::Config {
        source_name,
        setting: "url",
        reason: format!("{url:?} is not a URL: {e}"),
    })?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" => {
            let host = parsed.host_str().unwrap_or_default();
            let loopback = host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(parsed)
            } else {
                Err(insecure())
            }
        }
        _ => Err(insecure()),
    }
}

/// Parses a positive number of seconds from a setting.
pub fn seconds_setting(
    source_name: &'static str,
    setting: &'static str,
    value: Option<String>,
    default: Duration,
) -> Result<Duration, EntropyError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e7 => Ok(Duration::from_secs_f64(s)),
        _ => Err(EntropyError::Config {
            source_name,
            setting,
            reason: format!("{value:?} is not a positive number of seconds"),
        }),
    }
}

/// Parses a declared min-entropy per bit from a setting.
pub fn min_entropy_setting(
    source_name: &'static str,
    setting: &'static str,
    value: Option<String>,
    default: f64,
) -> Result<f64, EntropyError> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<f64>() {
        Ok(h) if h > 0.0 && h <= 1.0 => Ok(h),
        _ => Err(EntropyError::Config {
            source_name,
            setting,
            reason: format!("{value:?} is not a min-entropy per bit in (0, 1]"),
        }),
    }
}

/// A blocking HTTP client with a per-request timeout that never follows a redirect.
///
/// Credentials travel only to the origin that was configured and checked by [`secure_url`]:
/// a redirect could send them elsewhere (reqwest drops only `Authorization` and `Cookie`
/// across hosts, not an `x-api-key` header, and re-posts a form body on a 307), or send the
/// request over plain HTTP. So a 3xx answer is an error ([`EntropyError::Redirected`]).
///
/// TLS is rustls with ring's cryptography, its safe default protocol versions (TLS 1.2 and
/// 1.3) and the platform's certificate verifier (the system's roots on Linux), configured
/// here rather than by reqwest, which would otherwise bring a second cryptography library.
pub fn client(
    source_name: &'static str,
    timeout: Duration,
) -> Result<reqwest::blocking::Client, EntropyError> {
    use rustls_platform_verifier::BuilderVerifierExt;

    let setup_failed = |reason: String| EntropyError::Transport {
        source_name,
        endpoint: "client setup",
        reason,
    };
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map_err(|e| setup_failed(e.to_string()))?
        .with_no_client_auth();
    reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| setup_failed(e.to_string()))
}

/// Sends a request; maps transport failures and error statuses to [`EntropyError`].
///
/// Response bodies of failed calls are dropped unread: they could echo a credential.
pub fn send(
    source_name: &'static str,
    endpoint: &'static str,
    request: reqwest::blocking::RequestBuilder,
) -> Result<reqwest::blocking::Response, EntropyError> {
    let response = request.send().map_err(|e| EntropyError::Transport {
        source_name,
        endpoint,
        reason: transport_reason(&e),
    })?;
    let status = response.status().as_u16();
    match status {
        200..=299 => Ok(response),
        300..=399 => Err(EntropyError::Redirected {
            source_name,
            status,
            endpoint,
        }),
        401 | 403 => Err(EntropyError::BadCredentials {
            source_name,
            status,
            endpoint,
        }),
        409 | 429 => Err(EntropyError::Quota {
            source_name,
            status,
            endpoint,
        }),
        _ => Err(EntropyError::HttpStatus {
            source_name,
            status,
            endpoint,
        }),
    }
}

/// A transport error's description without its URL (which could carry a query).
fn transport_reason(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "could not read the body"
    } else {
        "failed"
    };
    let mut reason = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        reason.push_str(": ");
        reason.push_str(&inner.to_string());
        source = inner.source();
    }
    reason
}

/// `body` as JSON of `T`, a malformed one described without quoting it ([`malformed`]).
///
/// # Errors
/// [`EntropyError::Malformed`].
pub fn parse_json<T: serde::de::DeserializeOwned>(
    source_name: &'static str,
    endpoint: &'static str,
    body: &[u8],
) -> Result<T, EntropyError> {
    serde_json::from_slice(body).map_err(|e| malformed(source_name, endpoint, &e))
}

/// The body of `response`, refused once it exceeds `max_bytes`.
///
/// The cap is checked against a declared `Content-Length` before reading, and enforced while
/// reading (a body without a length, or one longer than declared, stops at `max_bytes + 1`),
/// so a hostile server cannot make the client buffer more than the API can legitimately send.
///
/// # Errors
/// [`EntropyError::TooLarge`], or [`EntropyError::Transport`] if reading fails.
pub fn read_body(
    source_name: &'static str,
    endpoint: &'static str,
    response: reqwest::blocking::Response,
    max_bytes: usize,
) -> Result<Vec<u8>, EntropyError> {
    use std::io::Read;
    let too_large = || EntropyError::TooLarge {
        source_name,
        endpoint,
        limit: max_bytes,
    };
    let limit = u64::try_from(max_bytes).unwrap_or(u64::MAX);
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(max_bytes.min(64 * 1024));
    response
        .take(limit.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| EntropyError::Transport {
            source_name,
            endpoint,
            reason: format!("could not read the body: {}", e.kind()),
        })?;
    if body.len() > max_bytes {
        return Err(too_large());
    }
    Ok(body)
}

/// Refuses a body (already read) longer than `limit`: the parsers apply their API's cap
/// themselves, so that they keep it when called on bytes from elsewhere.
///
/// # Errors
/// [`EntropyError::TooLarge`].
pub fn check_size(
    source_name: &'static str,
    endpoint: &'static str,
    body: &[u8],
    limit: usize,
) -> Result<(), EntropyError> {
    if body.len() > limit {
        return Err(EntropyError::TooLarge {
            source_name,
            endpoint,
            limit,
        });
    }
    Ok(())
}

/// A JSON error described by its kind and position only: serde's message can quote the
/// offending value, which could be a credential echoed by a hostile server.
pub fn malformed(
    source_name: &'static str,
    endpoint: &'static str,
    e: &serde_json::Error,
) -> EntropyError {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "JSON of the wrong shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    EntropyError::Malformed {
        source_name,
        endpoint,
        reason: format!("{kind} at line {}, column {}", e.line(), e.column()),
    }
}
