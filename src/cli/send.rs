//! `hookd send`: sign a test event with a source's own secret exactly as its
//! sender would — a realistic sample of the kind and type (`verify/sample.rs`)
//! or a file —, POST it to the running receiver, print the answer. This is
//! hookd's `stripe trigger`. Reads only that source's secret; prints the
//! answer, never the secret.

use crate::config::Sending;
use crate::verify::sign::{request_url, sample_body, sign_request_typed};
use bytes::Bytes;
use http_body_util::Full;
use std::path::Path;
use std::time::{Duration, SystemTime};

const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Why `send` failed: `Usage` exits 2, `Failed` exits 1.
pub enum SendError {
    Usage(String),
    Failed(String),
}

pub async fn run(
    sending: &Sending,
    ty: Option<&str>,
    file: Option<&Path>,
    url: Option<&str>,
    json: bool,
) -> Result<bool, SendError> {
    let src = &sending.source;
    let body = match file {
        Some(f) => std::fs::read(f).map_err(|e| SendError::Usage(format!("--file {}: {e}", f.display())))?,
        None => sample_body(src.kind, ty),
    };
    if url.is_none() && sending.tls {
        let why = "server.tls is set: pass --url https://<the certificate's name>:<port>/webhooks/<source>";
        return Err(SendError::Usage(why.into()));
    }
    let default_url = format!("http://{}/webhooks/{}", loopback(sending.listen), src.name);
    let url = url.unwrap_or(&default_url);
    let uri: http::Uri = url.parse().map_err(|_| SendError::Usage(format!("--url {url:?} is not a URL")))?;
    let (Some(scheme @ ("http" | "https")), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return Err(SendError::Usage(format!("--url {url:?}: only http:// and https:// URLs")));
    };
    let https = scheme == "https";
    let addr = format!("{host}:{}", uri.port_u16().unwrap_or(if https { 443 } else { 80 }));
    let url = request_url(src, &body, url);
    let uri: http::Uri = url.parse().map_err(|_| SendError::Usage(format!("--url {url:?} is not a URL")))?;
    let headers = sign_request_typed(src, ty, &body, &url, SystemTime::now());
    let sent = match https {
        true => post_tls(&uri, headers, body).await,
        false => post(&addr, &uri, headers, body).await,
    };
    let (status, answer) = sent.map_err(SendError::Failed)?;
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

/// The signed POST as a request to `target` (a path, or the whole URL).
fn request(
    target: &str,
    uri: &http::Uri,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> Result<http::Request<Full<Bytes>>, String> {
    let mut req = http::Request::builder()
        .method(http::Method::POST)
        .uri(target)
        .header(http::header::HOST, uri.authority().map(|a| a.as_str()).unwrap_or_default())
        .header(http::header::USER_AGENT, concat!("hookd-send/", env!("CARGO_PKG_VERSION")));
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        req = req.header(http::header::CONTENT_TYPE, "application/json");
    }
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())
}

async fn post(
    addr: &str,
    uri: &http::Uri,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> Result<(u16, String), String> {
    let exchange = async {
        let stream =
            tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let req = request(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"), uri, headers, body)?;
        let (status, bytes) = super::client::one_request(stream, req).await.map_err(|e| e.to_string())?;
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    };
    tokio::time::timeout(SEND_TIMEOUT, exchange).await.map_err(|_| format!("no answer from {uri} within 30s"))?
}

/// Over https://, verified against the system's roots (`SSL_CERT_FILE`
/// names more, e.g. an internal CA's bundle).
async fn post_tls(uri: &http::Uri, headers: Vec<(String, String)>, body: Vec<u8>) -> Result<(u16, String), String> {
    use http_body_util::BodyExt;
    let client: crate::tls::client::HttpsClient =
        crate::tls::client::http_client(crate::tls::client::verifying(crate::tls::client::system_roots()));
    let req = request(&uri.to_string(), uri, headers, body)?;
    let exchange = async {
        let resp = client
            .request(req)
            .await
            .map_err(|e| crate::tls::client::failure(&e).unwrap_or_else(|| crate::dispatch::callback::describe(&e)))?;
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    };
    tokio::time::timeout(SEND_TIMEOUT, exchange).await.map_err(|_| format!("no answer from {uri} within 30s"))?
}
