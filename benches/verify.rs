//! Signature verification per sender kind on a realistic 2.5 KB
//! Stripe-shaped body: the CPU cost each request pays before anything is
//! stored. Headers come from hookd's own signing side (`verify::sign`), so
//! every iteration is a passing check over the raw bytes.
//!
//!     cargo bench --bench verify

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hookd::config::Source;
use hookd::verify::{self, sign, Inbound};
use std::hint::black_box;
use std::time::SystemTime;

const URL: &str = "http://127.0.0.1:8080/webhooks/";

/// Every kind under test, as `[sources.*]` TOML.
const SOURCES: &str = r#"
[storage]
path = "{dir}/data"

[sources.stripe]
kind = "stripe"
secret = "whsec_bench_stripe"

[sources.github]
kind = "github"
secret = "bench-github"

[sources.slack]
kind = "slack"
secret = "bench-slack"

[sources.shopify]
kind = "shopify"
secret = "bench-shopify"

[sources.standard]
kind = "standard"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

[sources.twilio]
kind = "twilio"
secret = "bench-twilio"
"#;

#[path = "../examples/load/body.rs"]
mod body;
use body::stripe_body;

fn load_sources() -> (tempfile::TempDir, Vec<std::sync::Arc<Source>>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, SOURCES.replace("{dir}", &dir.path().display().to_string())).expect("write config");
    let config = hookd::config::load(&path).expect("bench config loads");
    let order = ["stripe", "github", "slack", "shopify", "standard", "twilio"];
    let sources = order.iter().map(|n| config.sources[*n].clone()).collect();
    (dir, sources)
}

fn verify_per_kind(c: &mut Criterion) {
    let (_dir, sources) = load_sources();
    let body = stripe_body(1, 1, 2500);
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));
    for source in &sources {
        let base = format!("{URL}{}", source.name);
        let url = sign::request_url(source, &body, &base);
        let now = SystemTime::now();
        let mut headers = http::HeaderMap::new();
        for (k, v) in sign::sign_request(source, &body, &base, now) {
            let name = http::HeaderName::from_bytes(k.as_bytes()).expect("header name");
            headers.append(name, v.parse().expect("header value"));
        }
        let inbound = Inbound { headers: &headers, body: &body, url: &url, now };
        verify::check(&source.verifier, &inbound).expect("bench request verifies");
        group.bench_function(source.name.as_str(), |b| {
            b.iter(|| verify::check(black_box(&source.verifier), black_box(&inbound)))
        });
    }
    group.finish();
}

criterion_group!(benches, verify_per_kind);
criterion_main!(benches);
