//! The benchmark body: a Stripe event padded to a given size. Shared by the
//! load tool and `benches/verify.rs` (included there by path).

/// A Stripe `payment_intent.succeeded` event, padded with metadata to
/// about `size` bytes. `run` keeps ids unique across runs.
pub fn stripe_body(run: u64, n: usize, size: usize) -> Vec<u8> {
    let head = format!(
        r#"{{"id":"evt_{run:x}_{n:010}","object":"event","api_version":"2024-06-20","created":1732960000,"type":"payment_intent.succeeded","livemode":false,"pending_webhooks":1,"request":{{"id":"req_{n}","idempotency_key":"idem-{run:x}-{n}"}},"data":{{"object":{{"id":"pi_{n}","object":"payment_intent","amount":2000,"amount_received":2000,"currency":"usd","customer":"cus_{}","description":"Order #{n}","status":"succeeded","metadata":{{"#,
        n % 1000
    );
    let mut body = head.into_bytes();
    let mut i = 0;
    while body.len() + 40 < size {
        body.extend_from_slice(format!(r#""k{i:03}":"v{i:03}-abcdefghijklmnopq","#).as_bytes());
        i += 1;
    }
    body.extend_from_slice(br#""end":"1"}}}}"#);
    body
}
