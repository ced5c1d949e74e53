use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn fail_n(b: &mut Breaker, now: Duration, n: u32) -> Option<Transition> {
    let mut last = None;
    for _ in 0..n {
        last = b.record(now, false, false).or(last);
    }
    last
}

#[test]
fn five_failures_in_a_row_open_it_and_a_success_in_between_resets_the_count() {
    let mut b = Breaker::new(BreakerSettings::default());
    assert_eq!(fail_n(&mut b, secs(1), 4), None);
    assert_eq!(b.record(secs(1), true, false), None);
    assert_eq!(fail_n(&mut b, secs(1), 4), None);
    let t = b.record(secs(1), false, false).expect("opens");
    assert_eq!(
        (t.from, t.to, t.attempts),
        (BreakerState::Closed, BreakerState::Open, 10)
    );
    assert_eq!(b.state(secs(1)), BreakerState::Open);
    assert_eq!(b.admit(secs(2)).0, Admission::WaitUntil(secs(6)));
}

#[test]
fn a_failure_rate_over_the_window_opens_it_with_enough_attempts_only() {
    let settings = BreakerSettings {
        consecutive_failures: 0,
        ..BreakerSettings::default()
    };
    let mut b = Breaker::new(settings);
    for i in 0..9 {
        assert_eq!(b.record(secs(i), false, false), None);
        assert_eq!(b.record(secs(i), true, false), None);
    }
    // 18 attempts, half failed: not enough attempts yet.
    assert_eq!(b.record(secs(10), true, false), None);
    let t = b
        .record(secs(10), false, false)
        .expect("20 attempts, 10 failed");
    assert_eq!(t.to, BreakerState::Open);
}

#[test]
fn old_outcomes_leave_the_window() {
    let settings = BreakerSettings {
        consecutive_failures: 0,
        ..BreakerSettings::default()
    };
    let mut b = Breaker::new(settings);
    for _ in 0..15 {
        b.record(secs(0), false, false);
    }
    assert_eq!(b.window_counts(secs(0)), (0, 15));
    assert_eq!(b.window_counts(secs(120)), (0, 0));
    for _ in 0..19 {
        assert_eq!(b.record(secs(120), true, false), None);
    }
    assert_eq!(b.record(secs(121), false, false), None);
}

#[test]
fn one_probe_after_the_cool_down_and_success_closes() {
    let mut b = Breaker::new(BreakerSettings::default());
    fail_n(&mut b, secs(0), 5);
    assert_eq!(b.admit(secs(4)).0, Admission::WaitUntil(secs(5)));
    let (a, t) = b.admit(secs(5));
    assert_eq!(a, Admission::Probe);
    assert_eq!(t.map(|t| t.to), Some(BreakerState::HalfOpen));
    assert_eq!(b.admit(secs(5)).0, Admission::WaitForProbe);
    let t = b.record(secs(6), true, true).expect("closes");
    assert_eq!(
        (t.from, t.to),
        (BreakerState::HalfOpen, BreakerState::Closed)
    );
    assert_eq!(b.admit(secs(6)).0, Admission::Go);
    assert_eq!(b.consecutive_failures(), 0);
}

#[test]
fn a_failed_probe_reopens_with_a_doubled_cool_down_up_to_the_cap() {
    let settings = BreakerSettings {
        max_cool_down: secs(30),
        ..BreakerSettings::default()
    };
    let mut b = Breaker::new(settings);
    fail_n(&mut b, secs(0), 5);
    let mut now = secs(5);
    for expected in [10, 20, 30, 30] {
        assert_eq!(b.admit(now).0, Admission::Probe);
        let t = b.record(now, false, true).expect("reopens");
        assert_eq!((t.from, t.to), (BreakerState::HalfOpen, BreakerState::Open));
        assert_eq!(b.open_until(), now + secs(expected));
        now += secs(expected);
    }
    assert_eq!(b.opened_count(), 5);
    // A success resets the cool-down to its start.
    b.admit(now);
    b.record(now, true, true);
    fail_n(&mut b, now, 5);
    assert_eq!(b.open_until(), now + secs(5));
}

#[test]
fn an_abandoned_probe_lets_another_go() {
    let mut b = Breaker::new(BreakerSettings::default());
    fail_n(&mut b, secs(0), 5);
    assert_eq!(b.admit(secs(5)).0, Admission::Probe);
    b.probe_abandoned();
    assert_eq!(b.admit(secs(5)).0, Admission::Probe);
}

#[test]
fn auto_disable_is_asked_for_after_a_long_outage_only_when_configured() {
    let mut off = Breaker::new(BreakerSettings::default());
    fail_n(&mut off, secs(0), 5);
    assert!(!off.wants_disable(secs(100_000)));
    let settings = BreakerSettings {
        auto_disable_after: Some(secs(3600)),
        ..BreakerSettings::default()
    };
    let mut b = Breaker::new(settings);
    fail_n(&mut b, secs(0), 5);
    assert!(!b.wants_disable(secs(3599)));
    assert!(b.wants_disable(secs(3600)));
    assert_eq!(b.opened_at(), Some(secs(0)));
}
