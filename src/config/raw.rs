//! The serde mirror of `config.toml` (and `HOOKD_*` overrides): every key the
//! file may hold, with its default, and nothing else (unknown keys are errors).
//! No validation here; `config.rs` turns this into a checked `Config`.

use serde::de::{self, Deserializer, MapAccess, Unexpected, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    #[serde(deserialize_with = "table")]
    pub server: RawServer,
    #[serde(deserialize_with = "table")]
    pub admin: RawAdmin,
    #[serde(deserialize_with = "table")]
    pub storage: RawStorage,
    #[serde(deserialize_with = "table")]
    pub dispatch: RawDispatch,
    #[serde(deserialize_with = "table")]
    pub alerts: RawAlerts,
    #[serde(deserialize_with = "tables_by_name")]
    pub sources: BTreeMap<String, RawSource>,
    /// `[tls]`: extra roots for every https client.
    #[serde(deserialize_with = "table")]
    pub tls: RawTls,
}

/// An integer of bytes, or a string like `"1MiB"`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum RawSize {
    Bytes(u64),
    Text(String),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    pub listen: String,
    pub max_body: RawSize,
    pub read_timeout: String,
    pub max_connections: usize,
    pub trusted_proxies: Vec<String>,
    /// All request header lines together; over it: 431.
    pub max_header_bytes: RawSize,
    /// Failed verifications allowed per client address (`"20/s"`).
    pub unverified_rate_limit: String,
    /// Open connections per peer address (trusted proxies exempt).
    pub max_connections_per_address: usize,
    /// HTTPS on the listen port: certificate files, or ACME.
    #[serde(deserialize_with = "table_opt")]
    pub tls: Option<RawServerTls>,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: "0.0.0.0:8080".into(),
            max_body: RawSize::Text("1MiB".into()),
            read_timeout: "10s".into(),
            max_connections: 1024,
            trusted_proxies: Vec::new(),
            max_header_bytes: RawSize::Text("32KiB".into()),
            unverified_rate_limit: "20/s".into(),
            max_connections_per_address: 64,
            tls: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAdmin {
    pub listen: Option<String>,
    pub token_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAlerts {
    pub on_dead: Option<Vec<String>>,
    pub url: Option<String>,
    pub timeout: Option<String>,
    /// What `url` is sent: "json" (default), "slack" or "raw".
    pub format: Option<String>,
    /// Sign `url` alerts like callbacks (Standard Webhooks headers).
    pub signing_secret: Option<String>,
    pub signing_secret_env: Option<String>,
    pub signing_secret_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStorage {
    pub path: String,
    pub dedup_window: String,
    pub retain_delivered: String,
    pub retain_dead: String,
    pub cache_capacity: RawSize,
    /// Each write-ahead log segment is preallocated to this (default:
    /// 16 MiB, or more when `server.max_body` needs it).
    pub segment_size: Option<RawSize>,
}

/// sled counts its cache in on-disk bytes and holds about five times that
/// in memory; at 2 MiB hookd measured 23–41 MB RSS while a backlog drains
/// and measured within noise of 16 MiB in throughput (BENCHMARKS.md).
pub const DEFAULT_CACHE: &str = "2MiB";

impl Default for RawStorage {
    fn default() -> Self {
        RawStorage {
            path: "/var/lib/hookd".into(),
            dedup_window: "7d".into(),
            retain_delivered: "3d".into(),
            retain_dead: "14d".into(),
            cache_capacity: RawSize::Text(DEFAULT_CACHE.into()),
            segment_size: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDispatch {
    pub concurrency: usize,
    pub output_tail: RawSize,
    /// Names of hookd's environment variables every handler may see.
    pub inherit_env: Vec<String>,
    /// Handlers' CPU priority below the ack path (0 = the same).
    pub nice: i32,
}

impl Default for RawDispatch {
    fn default() -> Self {
        RawDispatch { concurrency: 16, output_tail: RawSize::Text("4KiB".into()), inherit_env: Vec::new(), nice: 10 }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSource {
    pub kind: String,
    pub secret: Option<String>,
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    pub secrets: Vec<String>,
    pub insecure: bool,
    pub tolerance: Option<String>,
    pub dedup_window: Option<String>,
    pub allow_ips: Vec<String>,
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    /// The URL the sender signs (twilio, square); default: as received.
    pub public_url: Option<String>,
    /// `"100/s"`, `"600/m"`, `"1000/h"`.
    pub rate_limit: Option<String>,
    // kind = "standard": `whpk_` ed25519 public key(s) for v1a signatures.
    pub public_key: Option<OneOrMany>,
    // kind = "hmac"
    pub header: Option<String>,
    pub algorithm: Option<String>,
    pub encoding: Option<String>,
    pub prefix: Option<String>,
    pub timestamp_header: Option<String>,
    pub signed_payload: Option<String>,
    #[serde(deserialize_with = "tables_in_order")]
    pub routes: Vec<RawRoute>,
}

/// One string or a list of them (`public_key = "whpk_…"` or `[..]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn as_slice(&self) -> &[String] {
        match self {
            OneOrMany::One(s) => std::slice::from_ref(s),
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRoute {
    pub name: Option<String>,
    pub events: Vec<String>,
    pub command: Option<Vec<String>>,
    pub url: Option<String>,
    pub timeout: Option<String>,
    #[serde(deserialize_with = "table_opt")]
    pub retry: Option<RawRetry>,
    pub permanent_exit_codes: Option<Vec<i32>>,
    pub order_by: Option<String>,
    pub concurrency: Option<usize>,
    /// Flow control (SPEC §5): order for contended slots, attempt starts
    /// per period, the circuit breaker.
    pub priority: Option<i32>,
    pub rate: Option<String>,
    #[serde(deserialize_with = "table_opt")]
    pub breaker: Option<RawBreaker>,
    pub signing_secret: Option<String>,
    pub signing_secret_env: Option<String>,
    pub signing_secret_file: Option<String>,
    /// More names of hookd's environment this route's handler may see.
    pub inherit_env: Vec<String>,
    /// Variables set for this route's handler (templates).
    pub env: BTreeMap<String, String>,
    /// The command's working directory.
    pub cwd: Option<String>,
    /// Conditions that must all hold for the route to take an event.
    #[serde(rename = "match", deserialize_with = "tables_in_order")]
    pub conditions: Vec<RawCondition>,
    /// Answer the sender with the handler's output (SPEC §5 reply routes).
    pub reply: bool,
    pub reply_within: Option<String>,
    pub reply_content_type: Option<String>,
    // TLS of an https:// callback (config/tls.rs): extra roots, and a
    // client certificate for mTLS.
    pub ca_file: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    /// A NATS JetStream target instead of a command or url (SPEC §5).
    #[serde(deserialize_with = "table_opt")]
    pub nats: Option<RawNats>,
}

/// `breaker = { failures = 10, cool_down = "1m" }`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawBreaker {
    pub failures: Option<u32>,
    pub cool_down: Option<String>,
}

/// One `match` entry: a field and one test (SPEC §5).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCondition {
    pub field: String,
    pub equals: Option<serde_json::Value>,
    pub one_of: Option<Vec<serde_json::Value>>,
    pub glob: Option<String>,
    pub regex: Option<String>,
    pub exists: Option<bool>,
    pub not: bool,
}

/// `nats = { url = "nats://…", subject = "webhooks.{source}.{event_type}", … }`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawNats {
    /// One server or several, comma-separated (`nats://` or `tls://`).
    pub url: String,
    pub subject: String,
    pub credentials_file: Option<String>,
    pub token_file: Option<String>,
    pub tls_ca_file: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRetry {
    pub attempts: Option<u32>,
    pub initial: Option<String>,
    pub max: Option<String>,
}

// TLS (config/tls.rs).

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTls {
    /// PEM roots trusted besides the system's.
    pub ca_file: Option<String>,
}

/// `[server] tls = { cert_file, key_file }` or `{ acme = { … } }`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServerTls {
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    #[serde(deserialize_with = "table_opt")]
    pub acme: Option<RawAcme>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAcme {
    pub domains: Vec<String>,
    pub email: Option<String>,
    /// The ACME directory URL (default: Let's Encrypt's production one).
    pub directory: Option<String>,
    /// PEM roots for the directory's own certificate (a private or test CA).
    pub ca_file: Option<String>,
}

/// Every struct of this file is read through `Table` (the `deserialize_with`
/// above each struct-valued field): it must be a table. serde's derived
/// structs also read a sequence, field by field in declaration order, so
/// `[sources]` then `stripe = ["whsec_…"]` (a secret one line off) would
/// land the secret in `kind`, whose error quotes it; and a string in that
/// place would be quoted by the type error. Both are refused here without
/// their value.
struct Table<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Table<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Only<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Only<T> {
            type Value = Table<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Table<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Table)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Table<T>, E> {
                Err(E::invalid_type(Unexpected::Other("a string"), &self))
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Table<T>, E> {
                Err(E::invalid_type(Unexpected::Other("bytes"), &self))
            }
        }
        d.deserialize_map(Only(PhantomData))
    }
}

fn table<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Table::deserialize(d).map(|t| t.0)
}

fn table_opt<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Ok(Option::<Table<T>>::deserialize(d)?.map(|t| t.0))
}

fn tables_by_name<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<BTreeMap<String, T>, D::Error> {
    let tables = BTreeMap::<String, Table<T>>::deserialize(d)?;
    Ok(tables.into_iter().map(|(name, t)| (name, t.0)).collect())
}

fn tables_in_order<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Vec::<Table<T>>::deserialize(d)?.into_iter().map(|t| t.0).collect())
}
