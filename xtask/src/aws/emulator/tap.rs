//! A recording endpoint in front of an emulator: the bytes of every
//! connection go on unchanged both ways, and each HTTP request that passes
//! is written down as a [`Request`] (method, path, the few headers that
//! say which AWS call it is, and the start of its body). What `deploy`,
//! `remove` and `rollback` called is then checked against the policy
//! `iam-policy` prints (`iam::calls` turns a request into its IAM action).
//!
//! Nothing secret is kept: of the `Authorization` header only its
//! credential scope's region and service remain, never the key or the
//! signature, and bodies are cut at [`BODY_KEPT`] bytes.
//!
//! A tap may also hold answers ([`Hold`]): the benchmark's model of
//! CloudFormation at AWS's pace (`bench/pace.rs`) makes a stack operation's
//! answer wait as long as AWS would take. Nothing outside the benchmark and
//! the tests starts a tap.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How much of a body is kept: enough for the parameters of any call the
/// tool or the CLI makes (an uploaded artifact is counted, not kept).
pub const BODY_KEPT: usize = 64 * 1024;

/// One request as it passed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path with its query string.
    pub path: String,
    /// `x-amz-target` (the JSON protocols' operation).
    pub target: Option<String>,
    pub content_type: Option<String>,
    /// `x-amz-copy-source` (an S3 copy reads another object).
    pub copy_source: Option<String>,
    /// The signing scope's region and service.
    pub region: Option<String>,
    pub service: Option<String>,
    /// The first [`BODY_KEPT`] bytes of the body.
    pub body: Vec<u8>,
}

/// How long a request's answer waits before it goes back to the caller,
/// told when the request has been read whole, before its last bytes reach
/// the emulator (so no answer can pass before it is held).
pub type Hold = Arc<dyn Fn(Request) -> BoxFuture<'static, Duration> + Send + Sync>;

/// What a tap does besides passing the bytes.
#[derive(Clone, Default)]
pub struct Options {
    /// Keep every request (for [`Tap::requests`]).
    pub record: bool,
    pub hold: Option<Hold>,
}

/// A running tap: dropping it stops it.
pub struct Tap {
    endpoint: String,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Tap {
    /// Starts a tap on a free loopback port, in front of `upstream`
    /// (`http://127.0.0.1:PORT`). It runs on a thread of its own, so a
    /// caller that blocks on a child process does not stall it.
    pub fn start(upstream: &str) -> Result<Tap> {
        Tap::start_with(
            upstream,
            Options {
                record: true,
                hold: None,
            },
        )
    }

    /// Starts a tap that does what `options` say.
    pub fn start_with(upstream: &str, options: Options) -> Result<Tap> {
        let url =
            reqwest::Url::parse(upstream).with_context(|| format!("`{upstream}` is not a URL"))?;
        let upstream = format!(
            "{}:{}",
            url.host_str().context("the upstream has no host")?,
            url.port_or_known_default().unwrap_or(80)
        );
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let kept = requests.clone();
        let thread = std::thread::Builder::new()
            .name("tap".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::select! {
                        _ = stopped => {}
                        _ = serve(listener, upstream, kept, options) => {}
                    }
                });
                runtime.shutdown_background();
            })?;
        Ok(Tap {
            endpoint,
            requests,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`, to give as `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Every request so far, in the order they arrived.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: TcpListener,
    upstream: String,
    kept: Arc<Mutex<Vec<Request>>>,
    options: Options,
) {
    while let Ok((client, _)) = listener.accept().await {
        let upstream = upstream.clone();
        let kept = kept.clone();
        let options = options.clone();
        tokio::spawn(async move {
            if let Ok(server) = TcpStream::connect(&upstream).await {
                relay(client, server, kept, options).await;
            }
        });
    }
}

/// Copies both ways until either side closes, reading the requests on
/// the way up and holding the answers [`Options::hold`] says to.
async fn relay(
    client: TcpStream,
    server: TcpStream,
    kept: Arc<Mutex<Vec<Request>>>,
    options: Options,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // What the next answer on this connection waits (callers wait for an
    // answer before they send the next request).
    let held = Arc::new(Mutex::new(Duration::ZERO));
    let holds = held.clone();
    let up = async move {
        let mut reader = Reader::default();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut done = Vec::new();
            reader.feed(&chunk[..n], &mut done);
            if let Some(hold) = &options.hold {
                for request in &done {
                    let wait = hold(request.clone()).await;
                    if let Ok(mut held) = holds.lock() {
                        *held += wait;
                    }
                }
            }
            if options.record && !done.is_empty() {
                if let Ok(mut all) = kept.lock() {
                    all.extend(done);
                }
            }
            if server_write.write_all(&chunk[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let down = async move {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let wait = held
                .lock()
                .map(|mut h| std::mem::take(&mut *h))
                .unwrap_or_default();
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            if client_write.write_all(&chunk[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

impl Request {
    /// A query-protocol body's fields (`Action=…&StackName=…`), or `None`
    /// for a body of another kind.
    pub fn form(&self) -> Option<Vec<(String, String)>> {
        let form = self
            .content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if !form {
            return None;
        }
        let body = String::from_utf8_lossy(&self.body);
        let url = reqwest::Url::parse(&format!("http://x/?{body}")).ok()?;
        Some(
            url.query_pairs()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
}

/// Reads HTTP/1.1 requests from a byte stream as it arrives: a head, then
/// a body framed by `content-length` or chunked.
#[derive(Default)]
pub struct Reader {
    buffer: Vec<u8>,
    state: State,
}

#[derive(Default)]
enum State {
    #[default]
    Head,
    Body {
        request: Request,
        left: usize,
    },
    ChunkSize {
        request: Request,
    },
    ChunkData {
        request: Request,
        left: usize,
    },
    Trailers {
        request: Request,
    },
    /// A stream that is not HTTP as this reader knows it: the bytes still
    /// pass, nothing more is read from them.
    Lost,
}

impl Reader {
    /// Takes the next bytes of the stream; every request they complete is
    /// pushed to `done`.
    pub fn feed(&mut self, bytes: &[u8], done: &mut Vec<Request>) {
        self.buffer.extend_from_slice(bytes);
        while self.step(done) {}
    }

    /// One step forward; false when more bytes are needed.
    fn step(&mut self, done: &mut Vec<Request>) -> bool {
        match std::mem::take(&mut self.state) {
            State::Head => {
                let Some(end) = find(&self.buffer, b"\r\n\r\n") else {
                    // A head larger than any AWS call's: not for us to read.
                    if self.buffer.len() > 256 * 1024 {
                        self.state = State::Lost;
                        self.buffer.clear();
                    }
                    return false;
                };
                let head = String::from_utf8_lossy(&self.buffer[..end]).to_string();
                self.buffer.drain(..end + 4);
                let Some((request, framing)) = parse_head(&head) else {
                    self.state = State::Lost;
                    self.buffer.clear();
                    return false;
                };
                self.state = match framing {
                    Framing::Length(0) => {
                        done.push(request);
                        State::Head
                    }
                    Framing::Length(left) => State::Body { request, left },
                    Framing::Chunked => State::ChunkSize { request },
                };
                true
            }
            State::Body { mut request, left } => {
                let take = left.min(self.buffer.len());
                keep(&mut request, &self.buffer[..take]);
                self.buffer.drain(..take);
                if take == left {
                    done.push(request);
                    self.state = State::Head;
                    true
                } else {
                    self.state = State::Body {
                        request,
                        left: left - take,
                    };
                    false
                }
            }
            State::ChunkSize { request } => {
                let Some(end) = find(&self.buffer, b"\r\n") else {
                    self.state = State::ChunkSize { request };
                    return false;
                };
                let line = String::from_utf8_lossy(&self.buffer[..end]).to_string();
                self.buffer.drain(..end + 2);
                let size = line.split(';').next().unwrap_or_default().trim();
                match usize::from_str_radix(size, 16) {
                    Ok(0) => self.state = State::Trailers { request },
                    Ok(left) => self.state = State::ChunkData { request, left },
                    Err(_) => {
                        self.state = State::Lost;
                        self.buffer.clear();
                        return false;
                    }
                }
                true
            }
            State::ChunkData { mut request, left } => {
                // The data, then its CRLF.
                if self.buffer.len() < left + 2 {
                    let take = left.min(self.buffer.len());
                    keep(&mut request, &self.buffer[..take]);
                    self.buffer.drain(..take);
                    self.state = State::ChunkData {
                        request,
                        left: left - take,
                    };
                    return false;
                }
                keep(&mut request, &self.buffer[..left]);
                self.buffer.drain(..left + 2);
                self.state = State::ChunkSize { request };
                true
            }
            State::Trailers { request } => {
                let Some(end) = find(&self.buffer, b"\r\n") else {
                    self.state = State::Trailers { request };
                    return false;
                };
                self.buffer.drain(..end + 2);
                if end == 0 {
                    done.push(request);
                    self.state = State::Head;
                } else {
                    self.state = State::Trailers { request };
                }
                true
            }
            State::Lost => {
                self.buffer.clear();
                self.state = State::Lost;
                false
            }
        }
    }
}

enum Framing {
    Length(usize),
    Chunked,
}

fn parse_head(head: &str) -> Option<(Request, Framing)> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    if !first.next()?.starts_with("HTTP/1") {
        return None;
    }
    let mut request = Request {
        method,
        path,
        ..Request::default()
    };
    let mut framing = Framing::Length(0);
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => framing = Framing::Length(value.parse().ok()?),
            "transfer-encoding" if value.eq_ignore_ascii_case("chunked") => {
                framing = Framing::Chunked
            }
            "x-amz-target" => request.target = Some(value.to_string()),
            "content-type" => request.content_type = Some(value.to_string()),
            "x-amz-copy-source" => request.copy_source = Some(value.to_string()),
            "authorization" => {
                // `AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, …`:
                // the region and service only.
                let scope = value
                    .split("Credential=")
                    .nth(1)
                    .and_then(|c| c.split([',', ' ']).next())
                    .unwrap_or_default();
                let parts: Vec<&str> = scope.split('/').collect();
                if parts.len() == 5 {
                    request.region = Some(parts[2].to_string());
                    request.service = Some(parts[3].to_string());
                }
            }
            _ => {}
        }
    }
    Some((request, framing))
}

fn keep(request: &mut Request, bytes: &[u8]) {
    let room = BODY_KEPT.saturating_sub(request.body.len());
    request
        .body
        .extend_from_slice(&bytes[..room.min(bytes.len())]);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &str = "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/eu-west-1/dynamodb/aws4_request, SignedHeaders=host, Signature=abc\r\n";

    fn read(stream: &[u8], step: usize) -> Vec<Request> {
        let mut reader = Reader::default();
        let mut done = Vec::new();
        for piece in stream.chunks(step) {
            reader.feed(piece, &mut done);
        }
        done
    }

    #[test]
    fn requests_on_one_connection_are_read_whatever_the_reads_cut() {
        let body = r#"{"TableName":"orders-dev"}"#;
        let stream = format!(
            "POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n{SIGNED}Content-Length: {}\r\n\r\n{body}\
             PUT /bucket/key HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nx-amz-checksum: y\r\n\r\n\
             GET /bucket?versioning HTTP/1.1\r\nHost: x\r\n\r\n",
            body.len()
        );
        for step in [1, 3, 7, 64, 4096] {
            let done = read(stream.as_bytes(), step);
            assert_eq!(done.len(), 3, "reads of {step} bytes");
            assert_eq!(done[0].target.as_deref(), Some("DynamoDB_20120810.GetItem"));
            assert_eq!(done[0].body, body.as_bytes());
            assert_eq!(done[0].region.as_deref(), Some("eu-west-1"));
            assert_eq!(done[0].service.as_deref(), Some("dynamodb"));
            assert_eq!(done[1].body, b"abcde");
            assert_eq!(done[2].path, "/bucket?versioning");
        }
    }

    #[test]
    fn nothing_of_the_signature_or_the_key_is_kept() {
        let stream = format!("GET / HTTP/1.1\r\n{SIGNED}\r\n");
        let kept = format!("{:?}", read(stream.as_bytes(), 5));
        assert!(
            !kept.contains("AKIDEXAMPLE") && !kept.contains("abc"),
            "{kept}"
        );
    }

    #[test]
    fn a_stream_that_is_not_http_is_let_through_unread() {
        let done = read(
            b"\x16\x03\x01 not http at all\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            4,
        );
        assert!(done.is_empty());
    }

    #[test]
    fn a_long_body_is_counted_not_kept() {
        let big = vec![b'x'; BODY_KEPT + 10];
        let mut stream =
            format!("PUT /b/k HTTP/1.1\r\nContent-Length: {}\r\n\r\n", big.len()).into_bytes();
        stream.extend(&big);
        stream.extend(b"GET /next HTTP/1.1\r\n\r\n");
        let done = read(&stream, 1000);
        assert_eq!(done.len(), 2);
        assert_eq!(done[0].body.len(), BODY_KEPT);
        assert_eq!(done[1].path, "/next");
    }
}
