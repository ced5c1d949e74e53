use super::*;
use serde_json::{Value, json};

fn resolve_json(value: Value) -> Result<ResolvedWebhookConfig, ConfigError> {
    WebhookConfig::from_json_str(&value.to_string())?.resolve()
}

fn with(mut base: Value, extra: Value) -> Value {
    let obj = base.as_object_mut().expect("object");
    for (k, v) in extra.as_object().expect("object") {
        obj.insert(k.clone(), v.clone());
    }
    base
}

fn valid() -> Value {
    json!({"enabled": true, "url": "https://hooks.example.com/in"})
}

#[test]
fn defaults_match_the_design() {
    let c = resolve_json(valid()).expect("valid");
    assert!(c.enabled);
    assert_eq!(c.timeout, Duration::from_secs(30));
    assert_eq!(c.retry.max_retries(), 3);
    assert_eq!(c.retry.base_delay(1), Some(Duration::from_secs(1)));
    assert_eq!(c.queue_capacity, 500);
    assert_eq!(c.parallel_queue_multiplier, 2.0);
    assert_eq!(c.queue_policy, WebhookQueuePolicy::DropOldest);
    assert_eq!(c.block_timeout, Duration::from_millis(100));
    assert_eq!(c.max_concurrency, 4);
    assert_eq!(c.signature_scheme, SignatureScheme::Standard);
    assert_eq!(c.max_payload_bytes, 1024 * 1024);
    assert_eq!(c.events, EventFilter::default_subscription());
    assert!(c.events.allows("task_failed") && !c.events.allows("loop_started"));
    assert!(
        c.events.allows("my_custom_event"),
        "custom events pass the filter"
    );
    let off = WebhookConfig::default()
        .resolve()
        .expect("default is valid");
    assert!(!off.enabled && off.destination.is_none());
}

/// One bad value per entry (a JSON patch over a valid config) and the words its error
/// must contain.
const BAD_VALUES: &[(&str, &str)] = &[
    (
        "{\"timeout_secs\": 0}",
        "`timeout_secs` = 0 is out of range; expected 1..=300",
    ),
    (
        "{\"timeout_secs\": 301}",
        "`timeout_secs` = 301 is out of range; expected 1..=300",
    ),
    (
        "{\"retry_count\": 11}",
        "`retry_count` = 11 is out of range; expected 0..=10",
    ),
    (
        "{\"retry_backoff_ms\": 99}",
        "`retry_backoff_ms` = 99 is out of range; expected 100..=30000",
    ),
    (
        "{\"retry_backoff_ms\": 30001}",
        "`retry_backoff_ms` = 30001 is out of range; expected 100..=30000",
    ),
    (
        "{\"queue_capacity\": 9}",
        "`queue_capacity` = 9 is out of range; expected 10..=10000",
    ),
    (
        "{\"queue_capacity\": 10001}",
        "`queue_capacity` = 10001 is out of range; expected 10..=10000",
    ),
    (
        "{\"parallel_queue_multiplier\": 0.5}",
        "`parallel_queue_multiplier` = 0.5 is out of range; expected 1.0..=10.0",
    ),
    (
        "{\"parallel_queue_multiplier\": 10.5}",
        "`parallel_queue_multiplier` = 10.5 is out of range; expected 1.0..=10.0",
    ),
    (
        "{\"block_timeout_ms\": 0}",
        "`block_timeout_ms` = 0 is out of range; expected 1..=60000",
    ),
    (
        "{\"max_concurrency\": 0}",
        "`max_concurrency` = 0 is out of range; expected 1..=256",
    ),
    (
        "{\"max_concurrency\": 257}",
        "`max_concurrency` = 257 is out of range; expected 1..=256",
    ),
    (
        "{\"max_pending_retries\": 100001}",
        "`max_pending_retries` = 100001 is out of range",
    ),
    (
        "{\"shutdown_grace_ms\": 600001}",
        "`shutdown_grace_ms` = 600001 is out of range",
    ),
    (
        "{\"max_payload_bytes\": 1023}",
        "`max_payload_bytes` = 1023 is out of range; expected 1024..=16777216",
    ),
    (
        "{\"retry_schedule_ms\": []}",
        "`retry_schedule_ms` = 0 entries is out of range; expected 1..=20 entries",
    ),
    (
        "{\"retry_schedule_ms\": [604800001]}",
        "`retry_schedule_ms` = 604800001 is out of range",
    ),
    (
        "{\"events\": [\"task_craeted\"]}",
        "`events` contains unknown event `task_craeted`; expected `*` or one of: task_created",
    ),
    (
        "{\"signature_header\": \"bad header\"}",
        "`signature_header` entry `bad header` is invalid",
    ),
    (
        "{\"signature_header\": \"webhook-signature\"}",
        "`signature_header` entry `webhook-signature` is invalid",
    ),
    (
        "{\"headers\": {\"user-agent\": \"x\"}}",
        "`headers` entry `user-agent` is invalid",
    ),
    (
        "{\"headers\": {\"x-ok\": \"line\\nbreak\"}}",
        "`headers` entry `x-ok` is invalid; expected a value of visible ASCII",
    ),
    (
        "{\"secret\": \"whsec_###\"}",
        "`secret`: the secret starts with `whsec_` but the rest is not valid base64",
    ),
    ("{\"secret\": \"\"}", "`secret`: the secret is empty"),
    (
        "{\"queue_policy\": \"drop_everything\"}",
        "unknown variant `drop_everything`, expected one of `drop_oldest`, `drop_new`, `block_with_timeout`",
    ),
    (
        "{\"retries\": 3}",
        "unknown field `retries`, expected one of",
    ),
    (
        "{\"url\": null, \"enabled\": true}",
        "`url` is required when `enabled` is true",
    ),
];

#[test]
fn every_bad_value_gets_its_own_error_naming_field_value_and_range() {
    for (patch, expected) in BAD_VALUES {
        let patch: Value = serde_json::from_str(patch).expect("patch is JSON");
        let value = with(valid(), patch.clone());
        let err = resolve_json(value).expect_err(&format!("{patch} must be refused"));
        let msg = err.to_string();
        assert!(
            msg.contains(expected),
            "for {patch}: got `{msg}`, expected `{expected}`"
        );
    }
}

#[test]
fn range_edges_are_accepted() {
    for patch in [
        json!({"timeout_secs": 1}),
        json!({"timeout_secs": 300}),
        json!({"retry_count": 0}),
        json!({"retry_count": 10}),
        json!({"retry_backoff_ms": 100}),
        json!({"retry_backoff_ms": 30000}),
        json!({"queue_capacity": 10}),
        json!({"queue_capacity": 10000}),
        json!({"parallel_queue_multiplier": 1.0}),
        json!({"parallel_queue_multiplier": 10.0}),
        json!({"retry_schedule_ms": [5000, 300000, 1800000]}),
        json!({"events": ["*"]}),
        json!({"events": ["loop_started", "task_failed"]}),
        json!({"queue_policy": "block_with_timeout", "block_timeout_ms": 250}),
        json!({"signature_scheme": "hex", "signature_header": "X-Ralph-Signature"}),
        json!({"headers": {"x-tenant": "acme"}}),
    ] {
        resolve_json(with(valid(), patch.clone()))
            .unwrap_or_else(|e| panic!("{patch} refused: {e}"));
    }
}

/// A refused URL, words its error must contain, and the opt-in that accepts it.
const REFUSED_URLS: &[(&str, &str, Option<&str>)] = &[
    ("ftp://hooks.example.com/x", "scheme `ftp`", None),
    ("https:///nohost", "", None),
    (
        "https://hooks.example.com:99999/x",
        "port `99999`; expected a number in 1..=65535",
        None,
    ),
    ("https://hooks.example.com:0/x", "port `0`", None),
    ("not a url", "not a valid absolute URL", None),
    (
        "http://hooks.example.com/x",
        "plain http; set allow_insecure_http",
        Some("allow_insecure_http"),
    ),
    (
        "https://localhost/x",
        "loopback address; set allow_private_targets",
        Some("allow_private_targets"),
    ),
    (
        "https://127.0.0.1/x",
        "loopback address",
        Some("allow_private_targets"),
    ),
    (
        "https://[::1]:8443/x",
        "loopback address",
        Some("allow_private_targets"),
    ),
    (
        "https://169.254.169.254/latest",
        "cloud metadata endpoint",
        Some("allow_private_targets"),
    ),
    (
        "https://metadata.google.internal/x",
        "cloud metadata endpoint",
        Some("allow_private_targets"),
    ),
    (
        "https://[::ffff:127.0.0.1]/x",
        "loopback address",
        Some("allow_private_targets"),
    ),
    (
        "https://10.0.0.1/x",
        "private (RFC 1918) address",
        Some("allow_private_targets"),
    ),
    (
        "https://192.168.1.5/x",
        "private (RFC 1918) address",
        Some("allow_private_targets"),
    ),
    (
        "https://100.64.0.1/x",
        "carrier-grade NAT",
        Some("allow_private_targets"),
    ),
    (
        "https://[fd00::1]/x",
        "unique-local",
        Some("allow_private_targets"),
    ),
    (
        "https://[fe80::1]/x",
        "link-local",
        Some("allow_private_targets"),
    ),
    (
        "https://0.0.0.0/x",
        "unspecified",
        Some("allow_private_targets"),
    ),
    (
        "https://224.0.0.1/x",
        "multicast",
        Some("allow_private_targets"),
    ),
];

#[test]
fn url_checks_refuse_each_case_and_the_matching_opt_in_accepts_it() {
    for &(url, expected, opt_in) in REFUSED_URLS {
        let err = resolve_json(json!({"enabled": true, "url": url}))
            .expect_err(&format!("{url} must be refused"));
        let msg = err.to_string();
        assert!(msg.contains(expected), "{url}: got `{msg}`");
        assert!(
            !msg.contains("/x") && !msg.contains("latest"),
            "{url}: path leaked in `{msg}`"
        );
        if let Some(flag) = opt_in {
            resolve_json(json!({"enabled": true, "url": url, flag: true}))
                .unwrap_or_else(|e| panic!("{url} with {flag}: {e}"));
        }
    }
    // http to a loopback target needs both opt-ins.
    resolve_json(json!({"enabled": true, "url": "http://127.0.0.1:9/x",
        "allow_insecure_http": true, "allow_private_targets": true}))
    .expect("both opt-ins");
}

#[test]
fn debug_and_display_never_show_secrets_or_url_details() {
    let cfg = WebhookConfig {
        secret: Some("S3cr3t-token".into()),
        previous_secrets: Some(vec!["0ld-S3cr3t".into()]),
        headers: Some([("x-api-key".to_owned(), "k3y-value".to_owned())].into()),
        store_path: Some("postgres://app:DbPa55@db.internal:5432/app?schema=hooks".into()),
        ..WebhookConfig::for_url("https://user:pw@hooks.example.com/p/TOKEN?sig=abc")
    };
    let resolved = cfg.resolve().expect("valid");
    let printed = format!("{cfg:?} {cfg} {cfg:#?} {resolved:?} {resolved} {resolved:#?}");
    for needle in [
        "S3cr3t-token",
        "0ld-S3cr3t",
        "pw",
        "TOKEN",
        "sig=abc",
        "k3y-value",
        "user",
        "DbPa55",
    ] {
        assert!(!printed.contains(needle), "`{needle}` leaked in: {printed}");
    }
    assert!(printed.contains("https://hooks.example.com/…"));
    assert!(
        printed.contains("postgres://db.internal:5432/…"),
        "{printed}"
    );
}

#[test]
fn url_credentials_become_basic_auth_and_leave_the_uri() {
    let c = WebhookConfig::for_url("https://user:pw@hooks.example.com:8443/p?q=1")
        .resolve()
        .expect("valid");
    let d = c.destination.expect("destination");
    assert_eq!(d.basic_auth(), Some(("user", "pw")));
    assert_eq!(d.uri().to_string(), "https://hooks.example.com:8443/p?q=1");
    assert_eq!(d.redacted(), "https://hooks.example.com:8443/…");
    assert_eq!(redact_url("http://a:b@h:1/x?y"), "http://h:1/…");
    assert_eq!(redact_url("::nonsense"), "<invalid url>");
}

#[test]
fn parallel_mode_scales_capacity_and_concurrency_with_a_cap() {
    let base = resolve_json(valid()).expect("valid");
    let p = base.clone().for_parallel(3);
    assert_eq!(p.queue_capacity, 3000); // 500 × 3 × 2.0
    assert_eq!(p.max_concurrency, 4);
    let p = base.clone().for_parallel(12);
    assert_eq!(p.queue_capacity, MAX_QUEUE_CAPACITY); // 12000 capped
    assert_eq!(p.max_concurrency, 12);
    let p = base.for_parallel(0);
    assert_eq!(p.queue_capacity, 500);
}

#[test]
fn addresses_are_classified_including_mapped_forms() {
    use std::net::IpAddr;
    let cases = [
        ("127.0.0.1", Some(BlockedReason::Loopback)),
        ("::ffff:127.0.0.1", Some(BlockedReason::Loopback)),
        ("64:ff9b::a00:1", Some(BlockedReason::Private)),
        ("172.16.0.1", Some(BlockedReason::Private)),
        ("172.32.0.1", None),
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("fd00:ec2::254", Some(BlockedReason::CloudMetadata)),
        ("::", Some(BlockedReason::Unspecified)),
        ("ff02::1", Some(BlockedReason::Multicast)),
        ("255.255.255.255", Some(BlockedReason::Multicast)),
    ];
    for (ip, expected) in cases {
        let parsed: IpAddr = ip.parse().expect("ip");
        assert_eq!(classify_ip(parsed), expected, "{ip}");
    }
    assert_eq!(
        classify_host("foo.localhost"),
        Some(BlockedReason::Loopback)
    );
    assert_eq!(classify_host("hooks.example.com"), None);
}

#[test]
fn every_private_range_is_classified_at_its_edges_and_its_neighbours_are_public() {
    use BlockedReason::*;
    use std::net::IpAddr;
    let cases = [
        ("127.255.0.1", Some(Loopback)),
        ("128.0.0.1", None),
        ("0.1.2.3", Some(Unspecified)),
        ("1.0.0.1", None),
        ("10.255.255.255", Some(Private)),
        ("11.0.0.1", None),
        ("172.15.255.255", None),
        ("172.31.255.255", Some(Private)),
        ("171.16.0.1", None),
        ("192.168.0.1", Some(Private)),
        ("192.169.0.1", None),
        ("193.168.0.1", None),
        ("100.63.255.255", None),
        ("100.64.0.0", Some(SharedAddressSpace)),
        ("100.127.255.255", Some(SharedAddressSpace)),
        ("100.128.0.0", None),
        ("101.64.0.1", None),
        ("169.254.0.1", Some(LinkLocal)),
        ("169.254.255.255", Some(LinkLocal)),
        ("169.253.0.1", None),
        ("170.254.0.1", None),
        ("8.254.0.1", None),
        ("169.254.169.254", Some(CloudMetadata)),
        ("100.100.100.200", Some(CloudMetadata)),
        ("168.63.129.16", Some(CloudMetadata)),
        ("223.255.255.255", None),
        ("224.0.0.1", Some(Multicast)),
        ("239.255.255.250", Some(Multicast)),
        ("240.0.0.1", Some(Multicast)),
        // IPv6, including the forms that carry an IPv4 address.
        ("::1", Some(Loopback)),
        ("::ffff:169.254.1.1", Some(LinkLocal)),
        ("::10.0.0.1", Some(Private)),
        ("::169.254.1.1", Some(LinkLocal)),
        ("::8.8.8.8", None),
        ("64:ff9b::8.8.8.8", None),
        ("64:ff9b::127.0.0.1", Some(Loopback)),
        ("2606:4700::a00:1", None),
        ("2606:4700::a9fe:101", None),
        ("fc00::1", Some(UniqueLocal)),
        ("fdff:ffff::1", Some(UniqueLocal)),
        ("fe80::1", Some(LinkLocal)),
        ("febf:ffff::1", Some(LinkLocal)),
        ("fec0::1", None),
        ("fe00::1", None),
        ("ff00::1", Some(Multicast)),
        ("ff02::1", Some(Multicast)),
        ("fd00:ec2::254", Some(CloudMetadata)),
        ("fd00:ec2::255", Some(UniqueLocal)),
    ];
    for (ip, expected) in cases {
        let parsed: IpAddr = ip.parse().expect("ip");
        assert_eq!(classify_ip(parsed), expected, "{ip}");
        let host = if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.to_owned()
        };
        assert_eq!(classify_host(&host), expected, "{host}");
    }
}

#[test]
fn host_names_are_judged_by_their_text() {
    use BlockedReason::*;
    let cases = [
        ("localhost", Some(Loopback)),
        ("LocalHost.", Some(Loopback)),
        ("api.localhost", Some(Loopback)),
        ("notlocalhost", None),
        ("localhost.example.com", None),
        ("metadata", Some(CloudMetadata)),
        ("instance-data", Some(CloudMetadata)),
        ("metadata.google.internal", Some(CloudMetadata)),
        ("metadata.azure.internal", Some(CloudMetadata)),
        (
            "computeMetadata.metadata.google.internal",
            Some(CloudMetadata),
        ),
        ("metadata.example.com", None),
        ("hooks.example.com", None),
    ];
    for (host, expected) in cases {
        assert_eq!(classify_host(host), expected, "{host}");
    }
}

#[test]
fn blocked_reasons_describe_themselves() {
    use BlockedReason::*;
    let cases = [
        (Loopback, "loopback address"),
        (Private, "private (RFC 1918) address"),
        (UniqueLocal, "unique-local IPv6 address"),
        (
            SharedAddressSpace,
            "carrier-grade NAT (100.64.0.0/10) address",
        ),
        (LinkLocal, "link-local address"),
        (Unspecified, "unspecified address"),
        (Multicast, "multicast or broadcast address"),
        (CloudMetadata, "cloud metadata endpoint"),
    ];
    for (reason, text) in cases {
        assert_eq!(reason.describe(), text);
        assert_eq!(reason.to_string(), text);
    }
}

/// Plain http and private targets both allowed: only the URL's own shape is judged.
const OPEN: DestinationPolicy = DestinationPolicy {
    allow_insecure_http: true,
    allow_private_targets: true,
};

#[test]
fn ports_are_checked_after_brackets_and_credentials() {
    let parse = |url: &str| Destination::parse(url, OPEN);
    for fine in [
        "https://[2606:4700::1]:8443/x",
        "https://[2606:4700::1]/x",
        "https://[::1]:1/x",
        "https://[::1]:65535/x",
        "https://u:p@[::1]:443/x",
        "https://u:p@host:443/x",
        "https://host/x:0",
    ] {
        parse(fine).unwrap_or_else(|e| panic!("{fine}: {e}"));
    }
    for (bad, port) in [
        ("https://[2606:4700::1]:0/x", "0"),
        ("https://[::1]:0/x", "0"),
        ("https://host:0/x", "0"),
        ("https://u:p@host:0/x", "0"),
        ("https://u:p@[::1]:0/x", "0"),
    ] {
        assert_eq!(
            parse(bad),
            Err(DestinationError::InvalidPort {
                port: port.to_owned()
            }),
            "{bad}"
        );
    }
    let d = parse("https://[2606:4700::1]:8443/x").expect("valid");
    assert_eq!(d.host(), "[2606:4700::1]");
    assert_eq!(d.redacted(), "https://[2606:4700::1]:8443/…");
}

#[test]
fn the_host_header_leaves_out_the_default_port_and_the_credentials() {
    let host = |url: &str| {
        let d = Destination::parse(url, OPEN).unwrap_or_else(|e| panic!("{url}: {e}"));
        let value = d.host_header().expect("a host header");
        value.to_str().expect("ascii").to_owned()
    };
    assert_eq!(host("https://hooks.example.com/in"), "hooks.example.com");
    assert_eq!(
        host("https://hooks.example.com:443/in"),
        "hooks.example.com"
    );
    assert_eq!(
        host("https://hooks.example.com:8443/in"),
        "hooks.example.com:8443"
    );
    assert_eq!(host("http://hooks.example.com:80/in"), "hooks.example.com");
    assert_eq!(
        host("http://hooks.example.com:443/in"),
        "hooks.example.com:443"
    );
    assert_eq!(
        host("https://u:p@hooks.example.com:9/in"),
        "hooks.example.com:9"
    );
    assert_eq!(host("https://[::1]:8443/x"), "[::1]:8443");
    assert_eq!(host("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
}

#[test]
fn the_blocked_reason_is_judged_once_from_the_host_as_written() {
    let reason = |url: &str| {
        Destination::parse(url, OPEN)
            .expect("valid")
            .blocked_reason()
    };
    assert_eq!(reason("https://hooks.example.com/in"), None);
    assert_eq!(
        reason("http://127.0.0.1:8080/x"),
        Some(BlockedReason::Loopback)
    );
    assert_eq!(reason("https://[::1]/x"), Some(BlockedReason::Loopback));
    assert_eq!(reason("https://localhost/x"), Some(BlockedReason::Loopback));
    assert!(reason("https://10.1.2.3/x").is_some());
}

#[test]
fn destinations_report_scheme_host_and_credentials() {
    let open = DestinationPolicy {
        allow_insecure_http: true,
        allow_private_targets: false,
    };
    let plain = Destination::parse("http://hooks.example.com/in", open).expect("valid");
    assert!(!plain.is_https());
    assert_eq!(plain.host(), "hooks.example.com");
    assert_eq!(plain.basic_auth(), None);
    assert_eq!(
        format!("{plain:?}"),
        "Destination(\"http://hooks.example.com/…\")"
    );
    assert_eq!(plain.to_string(), "http://hooks.example.com/…");
    let secure = Destination::parse(" HTTPS://u@hooks.example.com/in ", open).expect("valid");
    assert!(secure.is_https());
    assert_eq!(secure.basic_auth(), Some(("u", "")));
    assert_eq!(secure.uri().to_string(), "https://hooks.example.com/in");
    assert_eq!(
        Destination::parse("https://user:pa/ss@hooks.example.com/in", open),
        Err(DestinationError::UnencodedCredentials)
    );
    assert_eq!(
        Destination::parse("https://user:pa?ss@hooks.example.com/in", open),
        Err(DestinationError::UnencodedCredentials)
    );
    // Credentials and an `@` in the path: the path's `@` is not read as credentials.
    let both = Destination::parse("https://user:pw@hooks.example.com/in@x", open)
        .expect("credentials and an @ in the path");
    assert_eq!(both.basic_auth(), Some(("user", "pw")));
    // A bracketed host whose port is no number, with an `@` further on: credentials
    // holding `[`, `]`, `:` and `/`, refused as such.
    assert_eq!(
        Destination::parse("https://[2606:4700::1]:p/w@hooks.example.com/in", open),
        Err(DestinationError::UnencodedCredentials)
    );
    // An `@` after a real port is part of the path, not credentials.
    Destination::parse("https://hooks.example.com:443/in@x", open).expect("an @ in the path");
    assert_eq!(
        Destination::parse("ftp://hooks.example.com/in", open),
        Err(DestinationError::UnsupportedScheme {
            scheme: "ftp".to_owned()
        })
    );
    assert_eq!(
        Destination::parse("https://localhost/in", open),
        Err(DestinationError::PrivateTarget {
            host: "localhost".to_owned(),
            reason: BlockedReason::Loopback
        })
    );
    assert_eq!(
        Destination::parse("http://hooks.example.com/in", DestinationPolicy::default()),
        Err(DestinationError::InsecureHttp {
            destination: "http://hooks.example.com/…".to_owned()
        })
    );
}

#[test]
fn destination_errors_explain_themselves() {
    let cases = [
        (
            DestinationError::Malformed,
            "`url` is not a valid absolute URL; expected https://host[:port]/path",
        ),
        (
            DestinationError::MissingHost,
            "`url` has no host; expected https://host[:port]/path",
        ),
        (
            DestinationError::InvalidPort {
                port: "0".to_owned(),
            },
            "`url` has port `0`; expected a number in 1..=65535",
        ),
        (
            DestinationError::PrivateTarget {
                host: "10.0.0.1".to_owned(),
                reason: BlockedReason::Private,
            },
            "`url` host `10.0.0.1` is a private (RFC 1918) address; set allow_private_targets = true to allow it",
        ),
    ];
    for (error, text) in cases {
        assert_eq!(error.to_string(), text);
    }
}
