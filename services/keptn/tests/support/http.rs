//! Plain HTTP for the delivery tests: GET a deployment URI, and a webhook receiver.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `GET <uri>/` (an `http://host:port` URI): the status and the body.
pub fn get(uri: &str) -> (u16, String) {
    let authority = uri
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("{uri} is not an http:// URI"))
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).unwrap_or_else(|e| panic!("connect {uri}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The `version` (and `pid`) the demo service answers at `uri`.
pub fn demo_version(uri: &str) -> (String, u64) {
    let (status, body) = get(uri);
    assert_eq!(status, 200, "{uri} answered {status}: {body}");
    let json: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{uri} answered {body:?}: {e}"));
    (
        json["version"].as_str().unwrap_or_default().to_owned(),
        json["pid"].as_u64().unwrap_or_default(),
    )
}

/// A webhook receiver on a free port: records each POSTed body, runs `on_call`, answers 200.
pub struct WebhookReceiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    /// The bodies received.
    pub calls: Arc<Mutex<Vec<String>>>,
}

impl WebhookReceiver {
    /// Starts the receiver (its thread lives as long as the test process).
    pub fn start(on_call: impl Fn() + Send + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&calls);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let mut reader = BufReader::new(stream);
                let mut length = 0usize;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
                on_call();
                let mut stream = reader.into_inner();
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndone",
                );
            }
        });
        Self { url, calls }
    }
}
