use super::*;
use crate::config::DestinationPolicy;

fn policy() -> DestinationPolicy {
    DestinationPolicy {
        allow_insecure_http: false,
        allow_private_targets: false,
    }
}

fn resolve(c: &EndpointConfig) -> Result<Endpoint, EndpointError> {
    c.resolve(policy(), Duration::from_secs(30))
}

#[test]
fn defaults_are_applied_and_documented() {
    let e = resolve(&EndpointConfig::new(
        "shop-1",
        "https://hooks.example.com/in",
    ))
    .expect("valid");
    assert_eq!(e.id.as_str(), "shop-1");
    assert!(e.enabled);
    assert_eq!((e.max_in_flight, e.queue_capacity), (2, 1000));
    assert_eq!(e.rate_limit, None);
    assert_eq!(e.breaker, Some(BreakerSettings::default()));
    assert!(e.wants("task_created") && e.wants("loop_started") && e.wants("custom.thing"));
    assert_eq!(e.redacted_url(), "https://hooks.example.com/…");
}

fn assert_refused(cases: Vec<(EndpointConfig, &str)>) {
    for (config, expected) in cases {
        let error = resolve(&config).expect_err(expected).to_string();
        assert!(error.contains(expected), "{error:?} lacks {expected:?}");
    }
}

#[test]
fn each_bad_breaker_value_is_refused_naming_the_endpoint_and_the_field() {
    let base = EndpointConfig::new("e1", "https://hooks.example.com/in");
    let breaker = |b: BreakerConfig| EndpointConfig {
        breaker: Some(b),
        ..base.clone()
    };
    assert_refused(vec![
        (
            breaker(BreakerConfig {
                failure_rate: Some(2.0),
                ..BreakerConfig::default()
            }),
            "endpoint `e1`: `breaker.failure_rate` = 2",
        ),
        (
            breaker(BreakerConfig {
                cool_down_ms: Some(10_000),
                max_cool_down_ms: Some(5_000),
                ..BreakerConfig::default()
            }),
            "`breaker.max_cool_down_ms` = 5000",
        ),
        (
            breaker(BreakerConfig {
                auto_disable_after_ms: Some(5),
                ..BreakerConfig::default()
            }),
            "`breaker.auto_disable_after_ms` = 5",
        ),
    ]);
}

#[test]
fn each_bad_value_is_refused_naming_the_endpoint_and_the_field() {
    let base = EndpointConfig::new("e1", "https://hooks.example.com/in");
    let cases: Vec<(EndpointConfig, &str)> = vec![
        (
            EndpointConfig {
                id: "a b".into(),
                ..base.clone()
            },
            "`id` = \"a b\"",
        ),
        (
            EndpointConfig {
                url: "http://hooks.example.com".into(),
                ..base.clone()
            },
            "endpoint `e1`: ",
        ),
        (
            EndpointConfig {
                max_in_flight: Some(0),
                ..base.clone()
            },
            "endpoint `e1`: `max_in_flight` = 0 is out of range; expected 1..=256",
        ),
        (
            EndpointConfig {
                queue_capacity: Some(0),
                ..base.clone()
            },
            "`queue_capacity` = 0",
        ),
        (
            EndpointConfig {
                rate_limit_per_sec: Some(0.0),
                ..base.clone()
            },
            "`rate_limit_per_sec` = 0",
        ),
        (
            EndpointConfig {
                rate_limit_burst: Some(3),
                ..base.clone()
            },
            "`rate_limit_burst` = 3 is out of range; expected no value without `rate_limit_per_sec`",
        ),
        (
            EndpointConfig {
                events: Some(vec!["nope".into()]),
                ..base.clone()
            },
            "endpoint `e1`: `events` contains unknown event `nope`",
        ),
        (
            EndpointConfig {
                secret: Some(String::new()),
                ..base.clone()
            },
            "endpoint `e1`: `secret`",
        ),
    ];
    assert_refused(cases);
}

#[test]
fn a_rate_limit_defaults_its_burst_and_a_breaker_can_be_turned_off() {
    let c = EndpointConfig {
        rate_limit_per_sec: Some(2.5),
        breaker: Some(BreakerConfig {
            enabled: Some(false),
            ..BreakerConfig::default()
        }),
        ..EndpointConfig::new("e", "https://h.example.com/")
    };
    let e = resolve(&c).expect("valid");
    assert_eq!(e.rate_limit, Some((2.5, 3)));
    assert_eq!(e.breaker, None);
}

#[test]
fn debug_and_errors_never_show_secrets_or_url_paths() {
    let c = EndpointConfig {
        secret: Some("whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=".into()),
        headers: Some([("x-api-key".to_owned(), "key-value-9876".to_owned())].into()),
        max_in_flight: Some(999),
        ..EndpointConfig::new("e", "https://user:pw@h.example.com/hook?token=abc")
    };
    let shown = format!("{c:?} {}", resolve(&c).expect_err("cap"));
    for secret in ["c2VjcmV0", "key-value-9876", "token=abc", "pw@", "/hook"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    let ok = EndpointConfig {
        max_in_flight: None,
        ..c
    };
    let shown = format!("{:?}", resolve(&ok).expect("valid"));
    for secret in ["c2VjcmV0", "key-value-9876", "token=abc", "/hook"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn a_configuration_lists_endpoints_without_a_url_and_refuses_duplicates() {
    let config = crate::WebhookConfig {
        enabled: Some(true),
        endpoints: Some(vec![
            EndpointConfig::new("a", "https://a.example.com/"),
            EndpointConfig::new("b", "https://b.example.com/"),
        ]),
        ..crate::WebhookConfig::default()
    };
    let resolved = config.resolve().expect("valid");
    assert_eq!(resolved.endpoints.as_ref().map(Vec::len), Some(2));
    assert!(resolved.destination.is_none());
    let dup = crate::WebhookConfig {
        endpoints: Some(vec![
            EndpointConfig::new("a", "https://a.example.com/"),
            EndpointConfig::new("a", "https://b.example.com/"),
        ]),
        ..config
    };
    let error = dup.resolve().expect_err("duplicate").to_string();
    assert!(error.contains("endpoint id `a` appears twice"), "{error}");
}
