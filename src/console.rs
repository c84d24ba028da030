//! The web console (SPEC §6 "Console") at `/ui/` on the admin listener:
//! static HTML, CSS and JS compiled into the binary (no build step, nothing
//! fetched from elsewhere), which use the admin API from the browser. On
//! TCP, `POST /ui/login` exchanges the admin token, once, for a session
//! cookie (`HttpOnly; SameSite=Strict`, a random id, never the token);
//! `session.rs` keeps the sessions and says which requests are same-origin.
//! The assets hold no data and are served without a token; every API call
//! they make is authorized as any other. Never puts the token in a URL, a
//! cookie or a log line.

pub mod session;

use crate::http::HttpResponse;
use crate::ingress::error;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use http_body_util::Full;

pub use session::{same_origin, Sessions, COOKIE};

/// An asset: its path under `/ui/`, content type and bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset { path: "", content_type: "text/html; charset=utf-8", bytes: include_bytes!("console/index.html") },
    Asset { path: "app.js", content_type: "text/javascript; charset=utf-8", bytes: include_bytes!("console/app.js") },
    Asset { path: "app.css", content_type: "text/css; charset=utf-8", bytes: include_bytes!("console/app.css") },
    Asset { path: "icon.svg", content_type: "image/svg+xml", bytes: include_bytes!("console/icon.svg") },
];

/// The console's own paths (`/ui`, `/ui/…`).
pub fn owns(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// `GET` of an asset (`/ui` redirects to `/ui/`); anything else under
/// `/ui/` that is not the login is 404.
pub fn asset(method: &Method, path: &str) -> HttpResponse {
    if path == "/ui" {
        let mut resp = HttpResponse::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::PERMANENT_REDIRECT;
        resp.headers_mut().insert(http::header::LOCATION, HeaderValue::from_static("/ui/"));
        return resp;
    }
    let name = path.trim_start_matches("/ui/");
    let found = ASSETS.iter().find(|a| a.path == name);
    match (method, found) {
        (&Method::GET | &Method::HEAD, Some(asset)) => {
            let mut resp = HttpResponse::new(Full::new(Bytes::from_static(asset.bytes)));
            let h = resp.headers_mut();
            h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
            h.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            secure_headers(h);
            resp
        }
        (_, Some(_)) => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "the console's assets are GET only")
        }
        (_, None) => error(StatusCode::NOT_FOUND, "not_found", "no such console path"),
    }
}

/// Everything the console runs comes from this origin; it is never framed
/// and it sends no referrer.
fn secure_headers(h: &mut http::HeaderMap) {
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(http::header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(http::header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(http::header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// `204` with the session cookie set (login) or cleared (logout); `Secure`
/// when the page was loaded over HTTPS (a TLS proxy in front).
pub fn cookie_answer(value: Option<&str>, secure: bool) -> HttpResponse {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = match value {
        Some(id) => format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    };
    let mut resp = HttpResponse::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::NO_CONTENT;
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(http::header::SET_COOKIE, v);
    }
    resp.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
