//! Who may call the JSON-RPC server, as Bitcoin Core decides it: HTTP basic authentication
//! with a random cookie that the node writes at start into a file only its user can read (or a
//! user and password from configuration), and the `Host` and `Origin` headers checked against an
//! allow-list, so that a web page the node's user visits cannot call it (DNS rebinding, a
//! cross-origin `POST`). A request that fails a check gets its answer (403 for a host or
//! origin, 401 for credentials) before any call runs.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use http::header::{AUTHORIZATION, HOST, ORIGIN, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The user name of the cookie's credentials (Bitcoin Core's).
pub const COOKIE_USER: &str = "__cookie__";

/// How long a request with wrong credentials waits for its 401 (Bitcoin Core's 250 ms): a
/// password from configuration may be weak, and guessing it then costs time.
const FAILED_AUTH_DELAY: Duration = Duration::from_millis(250);

/// The longest cookie file read: `__cookie__:` and 64 hex digits are 75 bytes.
const MAX_COOKIE_FILE: u64 = 1024;

/// Where the JSON-RPC server listens and who may call it.
#[derive(Clone, Debug)]
pub struct RpcConfig {
    /// Where it listens. Keep it on loopback unless a proxy in front of it terminates TLS:
    /// basic authentication sends the password with every request.
    pub address: SocketAddr,
    /// Where the node writes its cookie at start (`__cookie__:` and 64 hex digits, readable by
    /// the node's user only), removed when the node stops. `None`: the cookie lives in memory
    /// only ([`NodeHandle::rpc_credentials`](crate::NodeHandle::rpc_credentials)).
    pub cookie_file: Option<PathBuf>,
    /// A user and password accepted besides the cookie (Bitcoin Core's `rpcuser` and
    /// `rpcpassword`).
    pub user: Option<RpcCredentials>,
    /// `Host` header values accepted besides the loopback names of the server's port
    /// (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`) and its own address, as `host:port`
    /// (`node.lan:8332`), compared without regard to case.
    pub allowed_hosts: Vec<String>,
    /// `Origin` header values accepted (`https://wallet.example`). A browser names the page
    /// that makes a request in `Origin`; a request that carries one not listed is refused,
    /// and none is listed by default. Programs (wallets, `curl`) send no `Origin`.
    pub allowed_origins: Vec<String>,
}

impl RpcConfig {
    /// A server on `address` with a cookie in memory, no other user, and only the loopback
    /// host names allowed.
    pub fn new(address: SocketAddr) -> Self {
        RpcConfig {
            address,
            cookie_file: None,
            user: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
        }
    }

    /// [`RpcConfig::new`] on a free port of 127.0.0.1.
    pub fn local() -> Self {
        RpcConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// With the cookie written to `path` at start.
    #[must_use]
    pub fn with_cookie_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.cookie_file = Some(path.into());
        self
    }
}

/// A user name and password for the RPC server (HTTP basic authentication). The password is
/// zeroized when dropped and never printed: `Debug` shows the user only.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RpcCredentials {
    user: String,
    password: String,
}

impl fmt::Debug for RpcCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcCredentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why credentials could not be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// The user name is empty, has a `:` (basic authentication splits there) or a character
    /// that is not printable ASCII.
    #[error("the RPC user name must be printable ASCII without ':', and not empty")]
    BadUser,
    /// The password is empty or has a character that is not printable ASCII.
    #[error("the RPC password must be printable ASCII, and not empty")]
    BadPassword,
    /// The cookie file could not be read or written.
    #[error("the RPC cookie file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The cookie file is not `user:password` (or is larger than a cookie can be).
    #[error("the RPC cookie file {path} is not `user:password`: {reason}")]
    MalformedCookie {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The operating system gave no randomness for a cookie.
    #[error("no randomness for the RPC cookie: {0}")]
    Randomness(getrandom::Error),
}

fn printable(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

impl RpcCredentials {
    /// Credentials from a user name and password, both printable ASCII, the user without `:`.
    ///
    /// # Errors
    /// [`CredentialsError::BadUser`] or [`CredentialsError::BadPassword`].
    pub fn new(
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, CredentialsError> {
        let credentials = RpcCredentials {
            user: user.into(),
            password: password.into(),
        };
        if !printable(&credentials.user) || credentials.user.contains(':') {
            return Err(CredentialsError::BadUser);
        }
        if !printable(&credentials.password) {
            return Err(CredentialsError::BadPassword);
        }
        Ok(credentials)
    }

    /// A fresh cookie: [`COOKIE_USER`] and 32 bytes of OS randomness in hex.
    ///
    /// # Errors
    /// [`CredentialsError::Randomness`] if the OS has none to give.
    pub fn random_cookie() -> Result<Self, CredentialsError> {
        let mut secret = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut secret[..]).map_err(CredentialsError::Randomness)?;
        Ok(RpcCredentials {
            user: COOKIE_USER.to_owned(),
            password: hex::encode(secret.as_ref()),
        })
    }

    /// Reads the cookie a node wrote ([`RpcConfig::cookie_file`]), or any `user:password`
    /// file (a trailing newline is allowed).
    ///
    /// # Errors
    /// [`CredentialsError::Io`] if it cannot be read, [`CredentialsError::MalformedCookie`]
    /// if it is not `user:password` in printable ASCII.
    pub fn from_cookie_file(path: impl AsRef<Path>) -> Result<Self, CredentialsError> {
        use std::io::Read as _;
        let path = path.as_ref();
        let io = |source| CredentialsError::Io {
            path: path.to_owned(),
            source,
        };
        let malformed = |reason| CredentialsError::MalformedCookie {
            path: path.to_owned(),
            reason,
        };
        let mut bytes = Zeroizing::new(Vec::new());
        std::fs::File::open(path)
            .map_err(io)?
            .take(MAX_COOKIE_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_COOKIE_FILE {
            return Err(malformed("it is larger than 1 KiB"));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| malformed("it is not UTF-8"))?;
        let line = text.strip_suffix('\n').unwrap_or(text);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let (user, password) = line.split_once(':').ok_or(malformed("it has no ':'"))?;
        RpcCredentials::new(user, password).map_err(|error| match error {
            CredentialsError::BadUser => malformed("the user is empty or not printable ASCII"),
            _ => malformed("the password is empty or not printable ASCII"),
        })
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The `Authorization` header value (`Basic` and base64), marked sensitive so that `http`
    /// and the clients built on it do not print it.
    pub fn authorization(&self) -> HeaderValue {
        let mut pair = Zeroizing::new(String::with_capacity(
            self.user.len() + 1 + self.password.len(),
        ));
        pair.push_str(&self.user);
        pair.push(':');
        pair.push_str(&self.password);
        let mut value = Zeroizing::new(String::from("Basic "));
        base64::engine::general_purpose::STANDARD.encode_string(pair.as_bytes(), &mut value);
        let mut header =
            HeaderValue::from_str(&value).expect("base64 and \"Basic \" are valid header bytes");
        header.set_sensitive(true);
        header
    }

    /// Writes `user:password` to `path`, readable and writable by the current user only (on
    /// Unix; elsewhere with the directory's permissions): written under a temporary name in the
    /// same directory, then renamed, so that a reader never sees half a cookie.
    ///
    /// # Errors
    /// [`CredentialsError::Io`] if the file cannot be written.
    pub fn write_cookie_file(&self, path: impl AsRef<Path>) -> Result<(), CredentialsError> {
        use std::io::Write as _;
        let path = path.as_ref();
        let io = |source| CredentialsError::Io {
            path: path.to_owned(),
            source,
        };
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        // A leftover of a run that died between the write and the rename.
        match std::fs::remove_file(&temporary) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary).map_err(io)?;
        let written = (|| {
            file.write_all(self.user.as_bytes())?;
            file.write_all(b":")?;
            file.write_all(self.password.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(io(e));
        }
        Ok(())
    }

    /// The SHA-256 of `user:password`, what the server compares (in constant time).
    fn digest(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(self.user.as_bytes());
        hash.update(b":");
        hash.update(self.password.as_bytes());
        hash.finalize().into()
    }
}

/// What the server accepts, shared by its connections.
#[derive(Debug)]
pub(crate) struct Policy {
    /// SHA-256 of each accepted `user:password`.
    credentials: Vec<[u8; 32]>,
    /// Accepted `host:port` values (compared without regard to case).
    hosts: Vec<String>,
    /// Accepted origins (compared without regard to case).
    origins: Vec<String>,
}

impl Policy {
    /// The policy of a server bound to `local`, accepting `accepted` credentials.
    pub(crate) fn new(config: &RpcConfig, local: SocketAddr, accepted: &[&RpcCredentials]) -> Self {
        let port = local.port();
        let mut hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
            local.to_string(),
        ];
        hosts.extend(config.allowed_hosts.iter().cloned());
        Policy {
            credentials: accepted.iter().map(|c| c.digest()).collect(),
            hosts,
            origins: config.allowed_origins.clone(),
        }
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// Whether the `Authorization` header names accepted credentials.
    fn authorized(&self, header: Option<&HeaderValue>) -> bool {
        let Some(encoded) = header
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Basic "))
        else {
            return false;
        };
        let Ok(pair) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let pair = Zeroizing::new(pair);
        let digest: [u8; 32] = Sha256::digest(&pair[..]).into();
        // Every accepted digest compared, in constant time, so the time says nothing.
        self.credentials
            .iter()
            .fold(subtle::Choice::from(0), |found, accepted| {
                found | accepted[..].ct_eq(&digest[..])
            })
            .into()
    }

    /// The refusal for `request`, or `None` if it may run.
    fn refusal<B>(&self, request: &HttpRequest<B>) -> Option<Refusal> {
        let host = request
            .headers()
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| request.uri().authority().map(|a| a.as_str().to_owned()));
        match host {
            Some(host) if self.host_allowed(&host) => {}
            _ => return Some(Refusal::Host),
        }
        if let Some(origin) = request.headers().get(ORIGIN)
            && !origin.to_str().is_ok_and(|o| self.origin_allowed(o))
        {
            return Some(Refusal::Origin);
        }
        if !self.authorized(request.headers().get(AUTHORIZATION)) {
            return Some(Refusal::Credentials);
        }
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Host,
    Origin,
    Credentials,
}

impl Refusal {
    fn response(self) -> HttpResponse {
        let (status, text) = match self {
            Refusal::Host => (StatusCode::FORBIDDEN, "the Host header is not allowed\n"),
            Refusal::Origin => (StatusCode::FORBIDDEN, "the Origin header is not allowed\n"),
            Refusal::Credentials => (StatusCode::UNAUTHORIZED, "credentials required\n"),
        };
        let mut response = HttpResponse::new(HttpBody::from(text));
        *response.status_mut() = status;
        if self == Refusal::Credentials {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"jsonrpc\""),
            );
        }
        response
    }
}

/// The tower layer that checks every HTTP request (WebSocket upgrades included) before
/// jsonrpsee sees it.
#[derive(Debug, Clone)]
pub(crate) struct GuardLayer(pub(crate) Arc<Policy>);

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            policy: self.0.clone(),
        }
    }
}

/// [`GuardLayer`]'s service.
#[derive(Debug, Clone)]
pub(crate) struct Guard<S> {
    inner: S,
    policy: Arc<Policy>,
}

impl<S, B> tower::Service<HttpRequest<B>> for Guard<S>
where
    S: tower::Service<HttpRequest<B>, Response = HttpResponse>,
    S::Error: Into<BoxError> + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        match self.policy.refusal(&request) {
            None => {
                let call = self.inner.call(request);
                Box::pin(async move { call.await.map_err(Into::into) })
            }
            Some(refusal) => {
                tracing::debug!(?refusal, "RPC request refused");
                Box::pin(async move {
                    if refusal == Refusal::Credentials {
                        tokio::time::sleep(FAILED_AUTH_DELAY).await;
                    }
                    Ok(refusal.response())
                })
            }
        }
    }
}

/// An HTTP client of a node's RPC server that sends `credentials` with every call (to the one
/// URL it is built for; it follows no redirects).
///
/// # Errors
/// jsonrpsee's, if the URL is not an `http://` or `https://` URL.
pub fn client(
    url: &str,
    credentials: &RpcCredentials,
) -> Result<jsonrpsee::http_client::HttpClient, jsonrpsee::core::ClientError> {
    let mut headers = jsonrpsee::http_client::HeaderMap::new();
    headers.insert(AUTHORIZATION, credentials.authorization());
    jsonrpsee::http_client::HttpClientBuilder::default()
        .set_headers(headers)
        .build(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let credentials = RpcCredentials::new("alice", "hunter2-secret").unwrap();
        let shown = format!("{credentials:?}");
        assert!(shown.contains("alice"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let header = format!("{:?}", credentials.authorization());
        assert!(header.contains("Sensitive"), "{header}");
    }

    #[test]
    fn bad_names_and_passwords_are_refused() {
        assert!(matches!(
            RpcCredentials::new("", "p"),
            Err(CredentialsError::BadUser)
        ));
        assert!(matches!(
            RpcCredentials::new("a:b", "p"),
            Err(CredentialsError::BadUser)
        ));
        assert!(matches!(
            RpcCredentials::new("a\n", "p"),
            Err(CredentialsError::BadUser)
        ));
        assert!(matches!(
            RpcCredentials::new("a", ""),
            Err(CredentialsError::BadPassword)
        ));
        assert!(matches!(
            RpcCredentials::new("a", "p\u{e9}"),
            Err(CredentialsError::BadPassword)
        ));
        // A password may hold ':' (basic authentication splits at the first).
        assert!(RpcCredentials::new("a", "p:q").is_ok());
    }

    #[test]
    fn cookies_are_fresh_and_round_trip_through_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".cookie");
        let cookie = RpcCredentials::random_cookie().unwrap();
        assert_ne!(
            cookie.digest(),
            RpcCredentials::random_cookie().unwrap().digest()
        );
        assert_eq!(cookie.user(), COOKIE_USER);
        assert_eq!(cookie.password.len(), 64);
        cookie.write_cookie_file(&path).unwrap();
        assert_eq!(
            RpcCredentials::from_cookie_file(&path).unwrap().digest(),
            cookie.digest()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        // Written again (a restart): replaced, never appended.
        let next = RpcCredentials::random_cookie().unwrap();
        next.write_cookie_file(&path).unwrap();
        assert_eq!(
            RpcCredentials::from_cookie_file(&path).unwrap().digest(),
            next.digest()
        );
        assert!(!dir.path().join(".cookie.tmp").exists());
    }

    #[test]
    fn malformed_cookie_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cookie");
        for (content, expected) in [
            (&b"no-colon"[..], "no ':'"),
            (b":password", "user"),
            (b"user:", "password"),
            (b"user:pa\x00ss", "password"),
            (b"\xff\xfe:x", "UTF-8"),
        ] {
            std::fs::write(&path, content).unwrap();
            let error = RpcCredentials::from_cookie_file(&path).unwrap_err();
            assert!(error.to_string().contains(expected), "{error}");
        }
        std::fs::write(&path, vec![b'a'; 2000]).unwrap();
        let error = RpcCredentials::from_cookie_file(&path).unwrap_err();
        assert!(error.to_string().contains("larger"), "{error}");
        std::fs::write(&path, "user:pass\r\n").unwrap();
        assert_eq!(
            RpcCredentials::from_cookie_file(&path).unwrap().digest(),
            RpcCredentials::new("user", "pass").unwrap().digest()
        );
        let error = RpcCredentials::from_cookie_file(dir.path().join("missing")).unwrap_err();
        assert!(matches!(error, CredentialsError::Io { .. }), "{error}");
    }

    fn request(headers: &[(&str, &str)]) -> HttpRequest<()> {
        let mut builder = http::Request::builder().method("POST").uri("/");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn the_policy_checks_host_then_origin_then_credentials() {
        let cookie = RpcCredentials::random_cookie().unwrap();
        let user = RpcCredentials::new("alice", "wonderland").unwrap();
        let mut config = RpcConfig::local();
        config.allowed_hosts.push("Node.LAN:8332".into());
        config.allowed_origins.push("https://wallet.example".into());
        let policy = Policy::new(
            &config,
            "127.0.0.1:4000".parse().unwrap(),
            &[&cookie, &user],
        );
        let auth = cookie.authorization();
        let auth = auth.to_str().unwrap();
        let alice = user.authorization();
        let alice = alice.to_str().unwrap();

        assert_eq!(
            policy.refusal(&request(&[
                ("host", "127.0.0.1:4000"),
                ("authorization", auth)
            ])),
            None
        );
        assert_eq!(
            policy.refusal(&request(&[
                ("host", "localhost:4000"),
                ("authorization", alice)
            ])),
            None
        );
        assert_eq!(
            policy.refusal(&request(&[
                ("host", "node.lan:8332"),
                ("authorization", auth)
            ])),
            None
        );
        assert_eq!(
            policy.refusal(&request(&[
                ("host", "[::1]:4000"),
                ("origin", "https://WALLET.example"),
                ("authorization", auth)
            ])),
            None
        );
        // DNS rebinding: the attacker's name, or the right name on another port.
        for host in [
            "attacker.example",
            "attacker.example:4000",
            "127.0.0.1:4001",
            "127.0.0.1",
        ] {
            assert_eq!(
                policy.refusal(&request(&[("host", host), ("authorization", auth)])),
                Some(Refusal::Host),
                "{host}"
            );
        }
        assert_eq!(
            policy.refusal(&request(&[("authorization", auth)])),
            Some(Refusal::Host)
        );
        // A page elsewhere, even with the right credentials (a browser may hold them).
        assert_eq!(
            policy.refusal(&request(&[
                ("host", "127.0.0.1:4000"),
                ("origin", "https://attacker.example"),
                ("authorization", auth)
            ])),
            Some(Refusal::Origin)
        );
        assert_eq!(
            policy.refusal(&request(&[
                ("host", "127.0.0.1:4000"),
                ("origin", "null"),
                ("authorization", auth)
            ])),
            Some(Refusal::Origin)
        );
        let wrong = RpcCredentials::new(COOKIE_USER, "0".repeat(64))
            .unwrap()
            .authorization();
        for header in [
            None,
            Some(wrong.to_str().unwrap()),
            Some("Basic"),
            Some("Basic !!!"),
            Some("Bearer abc"),
            Some(&auth[6..]),
        ] {
            let mut headers = vec![("host", "127.0.0.1:4000")];
            headers.extend(header.map(|h| ("authorization", h)));
            assert_eq!(
                policy.refusal(&request(&headers)),
                Some(Refusal::Credentials),
                "{header:?}"
            );
        }
        assert_eq!(
            Refusal::Credentials.response().status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(Refusal::Host.response().status(), StatusCode::FORBIDDEN);
    }
}
