//! The CLI's side of the admin API: one HTTP/1.1 request over TCP or the
//! unix socket named by `[admin] listen`, with the bearer token. Errors are
//! one line an operator can act on; never prints the token.

use crate::config::admin::{Admin, AdminListen};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

const TIMEOUT: Duration = Duration::from_secs(60);

pub struct Client {
    listen: AdminListen,
    token: Option<String>,
}

/// What went wrong talking to the daemon.
#[derive(Debug)]
pub enum ClientError {
    /// Nothing listens there: hookd is not running (or listens elsewhere).
    Unreachable(String),
    /// The daemon answered with an error status and JSON body.
    Refused { status: u16, message: String },
    /// The exchange broke off or the answer was not JSON.
    Protocol(String),
    /// What was asked names nothing, or too much (exit 2).
    Usage(String),
    /// The daemon did nothing, and said why (exit 1).
    Nothing(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Unreachable(why) => {
                write!(f, "cannot reach the hookd admin API ({why}); is `hookd serve` running?")
            }
            ClientError::Refused { status: 401, .. } => {
                f.write_str("the admin API refused the token: check admin.token_file matches the running daemon's")
            }
            ClientError::Refused { status, message } => write!(f, "{message} (HTTP {status})"),
            ClientError::Protocol(why) => write!(f, "bad answer from the admin API: {why}"),
            ClientError::Usage(why) | ClientError::Nothing(why) => f.write_str(why),
        }
    }
}

impl Client {
    pub fn new(admin: &Admin) -> Client {
        let token = admin.token.as_ref().map(|t| String::from_utf8_lossy(t.expose()).into_owned());
        Client { listen: admin.listen.clone(), token }
    }

    /// `method path` with an optional JSON body → the JSON answer.
    pub async fn call(&self, method: http::Method, path: &str, body: Option<Value>) -> Result<Value, ClientError> {
        tokio::time::timeout(TIMEOUT, self.exchange(method, path, body))
            .await
            .map_err(|_| ClientError::Protocol(format!("no answer within {TIMEOUT:?}")))?
    }

    /// `GET path` → the raw answer and its content type (a stored body).
    pub async fn raw(&self, path: &str) -> Result<(Bytes, Option<String>), ClientError> {
        let answer = tokio::time::timeout(TIMEOUT, async {
            let (mut sender, req) = (self.connect().await?, self.request(http::Method::GET, path, None)?);
            let resp = sender.send_request(req).await.map_err(protocol)?;
            let ct = resp.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.map_err(protocol)?.to_bytes();
            Ok::<_, ClientError>((status, bytes, ct))
        });
        let (status, bytes, ct) =
            answer.await.map_err(|_| ClientError::Protocol(format!("no answer within {TIMEOUT:?}")))??;
        if (200..300).contains(&status) {
            return Ok((bytes, ct));
        }
        let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let message = json["message"].as_str().unwrap_or("request refused").to_string();
        Err(ClientError::Refused { status, message })
    }

    /// `GET path` as a server-sent event stream: `each(event, data)` per
    /// message, until the daemon ends the stream (then `Ok`).
    pub async fn stream(&self, path: &str, mut each: impl FnMut(&str, &str)) -> Result<(), ClientError> {
        let (mut sender, req) = (self.connect().await?, self.request(http::Method::GET, path, None)?);
        let resp = sender.send_request(req).await.map_err(protocol)?;
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        if !(200..300).contains(&status) {
            let bytes = body.collect().await.map_err(protocol)?.to_bytes();
            let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let message = json["message"].as_str().unwrap_or("request refused").to_string();
            return Err(ClientError::Refused { status, message });
        }
        let mut sse = super::sse::Parser::default();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.map_err(protocol)?.into_data() {
                sse.feed(&data, &mut each);
            }
        }
        Ok(())
    }

    /// A fresh HTTP/1.1 connection to the admin listener.
    async fn connect(&self) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, ClientError> {
        match &self.listen {
            AdminListen::Tcp(addr) => {
                let stream = tokio::net::TcpStream::connect(addr).await.map_err(unreachable(addr))?;
                handshake(stream).await
            }
            AdminListen::Unix(p) => {
                let stream = tokio::net::UnixStream::connect(p).await.map_err(unreachable(&p.display()))?;
                handshake(stream).await
            }
        }
    }

    async fn exchange(&self, method: http::Method, path: &str, body: Option<Value>) -> Result<Value, ClientError> {
        let (status, bytes) = match &self.listen {
            AdminListen::Tcp(addr) => {
                let stream = tokio::net::TcpStream::connect(addr).await.map_err(unreachable(addr))?;
                self.send(stream, method, path, body).await?
            }
            AdminListen::Unix(p) => {
                let stream = tokio::net::UnixStream::connect(p).await.map_err(unreachable(&p.display()))?;
                self.send(stream, method, path, body).await?
            }
        };
        let json: Value = serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol(e.to_string()))?;
        if (200..300).contains(&status) {
            return Ok(json);
        }
        let message = json["message"].as_str().unwrap_or("request refused").to_string();
        Err(ClientError::Refused { status, message })
    }

    async fn send<S>(
        &self,
        stream: S,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Bytes), ClientError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let req = self.request(method, path, body)?;
        one_request(stream, req).await.map_err(|e| ClientError::Protocol(e.to_string()))
    }

    fn request(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<http::Request<Full<Bytes>>, ClientError> {
        let mut req = http::Request::builder().method(method).uri(path).header(http::header::HOST, "hookd");
        if let Some(token) = &self.token {
            req = req.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let payload = body.map(|b| b.to_string()).unwrap_or_default();
        if !payload.is_empty() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        req.body(Full::new(Bytes::from(payload))).map_err(|e| ClientError::Protocol(e.to_string()))
    }
}

/// One HTTP/1.1 request on a fresh connection → status and whole body.
/// Shared by the admin client and `hookd send`.
pub(super) async fn one_request<S>(stream: S, req: http::Request<Full<Bytes>>) -> Result<(u16, Bytes), hyper::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}

async fn handshake<S>(stream: S) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(protocol)?;
    tokio::spawn(conn);
    Ok(sender)
}

fn protocol(e: hyper::Error) -> ClientError {
    ClientError::Protocol(e.to_string())
}

fn unreachable(at: &dyn std::fmt::Display) -> impl FnOnce(std::io::Error) -> ClientError + '_ {
    move |e| ClientError::Unreachable(format!("{at}: {e}"))
}
