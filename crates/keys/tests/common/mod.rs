//! A real HTTP server on 127.0.0.1 (tiny_http) that answers with a test's script and records
//! every request, so the real clients are driven end to end without the internet.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.url.split('?').next().unwrap_or_default()
    }
}

/// What the server answers to one request.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

/// A reply's body.
pub enum Body {
    /// JSON text, with its length.
    Json(String),
    /// Bytes without end, sent chunked (no length).
    Endless,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Json(body.into()),
        }
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Self {
        Reply {
            status,
            headers: vec![("Location", location.to_owned())],
            body: Body::Json("{}".to_owned()),
        }
    }
}

type Handler = dyn Fn(&Recorded) -> Reply + Send + Sync;

pub struct TestServer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    pub base: String,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl TestServer {
    /// Starts a server on a free port; `handler` gives (status, JSON body) for each request.
    pub fn start(handler: impl Fn(&Recorded) -> (u16, String) + Send + Sync + 'static) -> Self {
        Self::start_with(move |request| {
            let (status, body) = handler(request);
            Reply::json(status, body)
        })
    }

    /// Starts a server on a free port; `handler` gives the whole reply for each request.
    pub fn start_with(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
        let addr = server.server_addr().to_ip().expect("ip address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Box<Handler> = Box::new(handler);
        let thread = {
            let server = Arc::clone(&server);
            let requests = Arc::clone(&requests);
            std::thread::spawn(move || {
                for mut request in server.incoming_requests() {
                    let mut body = String::new();
                    let _ = request.as_reader().read_to_string(&mut body);
                    let recorded = Recorded {
                        method: request.method().to_string(),
                        url: request.url().to_owned(),
                        headers: request
                            .headers()
                            .iter()
                            .map(|h| (h.field.to_string(), h.value.to_string()))
                            .collect(),
                        body,
                    };
                    let reply = handler(&recorded);
                    requests.lock().expect("lock").push(recorded);
                    let mut headers = vec![
                        tiny_http::Header::from_bytes("Content-Type", "application/json")
                            .expect("header"),
                    ];
                    for (name, value) in &reply.headers {
                        headers.push(
                            tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
                                .expect("header"),
                        );
                    }
                    let status = tiny_http::StatusCode(reply.status);
                    // A failed write (the client hung up on an endless body) ends the reply.
                    let _ = match reply.body {
                        Body::Json(text) => {
                            let length = text.len();
                            request.respond(tiny_http::Response::new(
                                status,
                                headers,
                                std::io::Cursor::new(text.into_bytes()),
                                Some(length),
                                None,
                            ))
                        }
                        Body::Endless => request.respond(tiny_http::Response::new(
                            status,
                            headers,
                            std::io::repeat(b' '),
                            None,
                            None,
                        )),
                    };
                }
            })
        };
        Self {
            server,
            thread: Some(thread),
            base: format!("http://{addr}"),
            requests,
        }
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A small deterministic bit generator for fake quantum answers.
pub struct Bits(u64);

impl Bits {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
