//! Property tests (in-process) of the ingress header parsers outside
//! `verify`: `X-Forwarded-For` / `-Proto` / `-Host` and `Host` from a
//! trusted proxy, hostile values included, never panic; the client IP is
//! the peer or an address the header really names.

use hookd::ingress::guard::Guards;
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use std::net::IpAddr;

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(any::<u8>(), 8_000..9_000),
        "([0-9]{1,3}\\.){3}[0-9]{1,3}(, ?([0-9]{1,3}\\.){3}[0-9]{1,3}){0,5}".prop_map(String::into_bytes),
        "\\[?[0-9a-f:]{2,39}\\]?(:[0-9]{1,5})?".prop_map(String::into_bytes),
        "(https?|ftp|)(, ?https?)?".prop_map(String::into_bytes),
        "[a-z.:0-9\\[\\]@/]{0,40}".prop_map(String::into_bytes),
    ]
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    let names = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "host", "forwarded"];
    prop::collection::vec((0..names.len(), value()), 0..12).prop_map(move |pairs| {
        let mut map = HeaderMap::new();
        for (i, v) in pairs {
            if let Ok(v) = HeaderValue::from_bytes(&v) {
                map.append(HeaderName::from_static(names[i]), v);
            }
        }
        map
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn forwarded_headers_never_panic(headers in headers(), trusted in any::<bool>(), path in "/[ -~]{0,30}") {
        let proxies = if trusted { vec!["127.0.0.0/8".parse().expect("cidr")] } else { Vec::new() };
        let guards = Guards::new(&Default::default(), proxies, governor::Quota::per_second(std::num::NonZeroU32::MIN));
        let peer: IpAddr = "127.0.0.1".parse().expect("ip");
        let client = guards.client_ip(peer, &headers);
        let named = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>().join(",");
        prop_assert!(client == peer || (trusted && named.contains(&client.to_string())), "{client} from {named:?}");
        let uri = path.parse::<http::Uri>().unwrap_or_else(|_| http::Uri::from_static("/"));
        let _ = guards.received_url(peer, &headers, &uri);
    }
}
