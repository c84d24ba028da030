//! A deliberately small HTTP/1.1 client over std TcpStream (one request per
//! connection), so tests control every byte, and a scripted callback receiver.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {:?}", self.body))
    }
}

/// POST `body` with `headers`; `None` when the connection failed or was cut.
pub fn post(addr: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Option<Response> {
    post_as(addr, path, "application/json", headers, body)
}

/// POST with a given content type (form bodies for Twilio).
pub fn post_as(
    addr: &str,
    path: &str,
    content_type: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Option<Response> {
    let mut req = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes)
}

/// Any method, with headers (e.g. `Authorization`) and a body.
pub fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Option<Response> {
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes)
}

pub fn get(addr: &str, path: &str) -> Option<Response> {
    raw(addr, format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
}

/// Send raw bytes, read the whole answer until the server closes.
pub fn raw(addr: &str, bytes: &[u8]) -> Option<Response> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    s.write_all(bytes).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    parse(&out)
}

/// Send raw bytes on a unix socket (the admin API there), read the answer.
pub fn unix_raw(sock: &std::path::Path, bytes: &[u8]) -> Option<Response> {
    let mut s = std::os::unix::net::UnixStream::connect(sock).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    s.write_all(bytes).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    parse(&out)
}

pub fn parse(out: &[u8]) -> Option<Response> {
    let text = String::from_utf8_lossy(out);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Response { status, headers, body: body.to_string() })
}

/// One request as the callback receiver saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// A callback target that answers each request with the next status of its
/// script (the last one repeats), recording what it received.
pub struct Receiver {
    pub addr: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    pub fn start(script: Vec<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let addr = listener.local_addr().expect("addr").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                let status = *script.get(n).or(script.last()).unwrap_or(&200);
                if let Some(seen) = answer(stream, status) {
                    log.lock().expect("lock").push(seen);
                }
            }
        });
        Receiver { addr, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn count(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }
}

fn answer(mut s: TcpStream, status: u16) -> Option<Seen> {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let seen = read_request(&mut s).ok()??;
    let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let _ = s.write_all(reply.as_bytes());
    Some(seen)
}

/// One HTTP/1.1 request (head + Content-Length body); `None` at a clean end.
pub fn read_request(s: &mut impl Read) -> std::io::Result<Option<Seen>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, headers) = loop {
        let n = match s.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..pos]).to_string();
            let headers: Vec<(String, String)> = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            break (pos + 4, headers);
        }
    };
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(Some(Seen { headers, body: buf[head_end..].to_vec() }))
}
