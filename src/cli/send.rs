//! `hookd send`: sign a test event with a source's own secret exactly as its
//! sender would, POST it to the running receiver, print the answer. This is
//! hookd's `stripe trigger`. Prints the answer, never the secret.

use crate::config::Config;
use crate::verify::sign::{request_url, sample_body, sign_request_typed};
use bytes::Bytes;
use http_body_util::Full;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Why `send` failed: `Usage` exits 2, `Failed` exits 1.
pub enum SendError {
    Usage(String),
    Failed(String),
}

pub async fn run(
    config: &Config,
    source: &str,
    ty: Option<&str>,
    file: Option<&Path>,
    url: Option<&str>,
    json: bool,
) -> Result<bool, SendError> {
    let src =
        config.sources.get(source).ok_or_else(|| SendError::Usage(format!("sources.{source}: no such source")))?;
    let body = match file {
        Some(f) => std::fs::read(f).map_err(|e| SendError::Usage(format!("--file {}: {e}", f.display())))?,
        None => sample_body(src.kind, ty),
    };
    let default_url = format!("http://{}/webhooks/{source}", loopback(config.server.listen));
    let url = url.unwrap_or(&default_url);
    let uri: http::Uri = url.parse().map_err(|_| SendError::Usage(format!("--url {url:?} is not a URL")))?;
    let (Some("http"), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return Err(SendError::Usage(format!("--url {url:?}: only http:// URLs")));
    };
    let addr = format!("{host}:{}", uri.port_u16().unwrap_or(80));
    let url = request_url(src, &body, url);
    let uri: http::Uri = url.parse().map_err(|_| SendError::Usage(format!("--url {url:?} is not a URL")))?;
    let headers = sign_request_typed(src, ty, &body, &url, SystemTime::now());
    let (status, answer) = tokio::time::timeout(Duration::from_secs(30), post(&addr, &uri, headers, body))
        .await
        .map_err(|_| SendError::Failed(format!("no answer from {url} within 30s")))?
        .map_err(SendError::Failed)?;
    if json {
        // One document: the status and the receiver's answer (its JSON as
        // JSON, anything else as a string).
        let answer = serde_json::from_str(&answer).unwrap_or(serde_json::Value::String(answer));
        println!("{}", serde_json::json!({ "status": status, "answer": answer }));
    } else {
        println!("{status} {answer}");
    }
    Ok((200..300).contains(&status))
}

/// The address to reach a listener on: its own, or loopback for 0.0.0.0.
fn loopback(listen: std::net::SocketAddr) -> std::net::SocketAddr {
    match listen.ip().is_unspecified() {
        true => std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), listen.port()),
        false => listen,
    }
}

async fn post(
    addr: &str,
    uri: &http::Uri,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> Result<(u16, String), String> {
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = http::Request::builder()
        .method(http::Method::POST)
        .uri(path)
        .header(http::header::HOST, uri.authority().map(|a| a.as_str()).unwrap_or(addr))
        .header(http::header::USER_AGENT, concat!("hookd-send/", env!("CARGO_PKG_VERSION")));
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        req = req.header(http::header::CONTENT_TYPE, "application/json");
    }
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let req = req.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
    let (status, bytes) = super::client::one_request(stream, req).await.map_err(|e| e.to_string())?;
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}
