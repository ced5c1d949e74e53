//! Choosing the reply for each attempt: per-webhook scripts, or one in call order.

use super::{Reply, Script};
use std::collections::HashMap;

/// How the default script is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counting {
    /// Each webhook id starts the script from its first step.
    PerWebhook,
    /// One pass through the script for all attempts, in arrival order.
    CallOrder,
}

/// The scripts in force and how far each has got.
#[derive(Debug)]
pub(crate) struct Playbook {
    default: Script,
    counting: Counting,
    per_id: HashMap<String, Script>,
    seen: HashMap<String, usize>,
    calls: usize,
}

impl Playbook {
    pub(crate) fn new(default: Script, counting: Counting) -> Self {
        Self {
            default,
            counting,
            per_id: HashMap::new(),
            seen: HashMap::new(),
            calls: 0,
        }
    }

    /// Gives webhook `id` its own script. It is counted from the attempts already seen
    /// for that id, so a script set after a first attempt answers the second with its
    /// second step.
    pub(crate) fn set(&mut self, id: &str, script: Script) {
        self.per_id.insert(id.to_owned(), script);
    }

    /// The reply to the next attempt of webhook `id` (`""` when the request had none).
    pub(crate) fn next(&mut self, id: &str) -> Reply {
        let seen = self.seen.entry(id.to_owned()).or_insert(0);
        let nth_for_id = *seen;
        *seen += 1;
        let nth_call = self.calls;
        self.calls += 1;
        match self.per_id.get(id) {
            Some(script) => script.reply_for(nth_for_id).clone(),
            None => match self.counting {
                Counting::PerWebhook => self.default.reply_for(nth_for_id).clone(),
                Counting::CallOrder => self.default.reply_for(nth_call).clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_webhook_counting_starts_each_id_at_the_first_step() {
        let mut book = Playbook::new(Script::fail_then_succeed(1, 500), Counting::PerWebhook);
        assert_eq!(book.next("a"), Reply::status(500));
        assert_eq!(book.next("b"), Reply::status(500));
        assert_eq!(book.next("a"), Reply::ok());
        assert_eq!(book.next("b"), Reply::ok());
    }

    #[test]
    fn call_order_counting_runs_one_script_across_all_ids() {
        let mut book = Playbook::new(Script::fail_then_succeed(2, 503), Counting::CallOrder);
        assert_eq!(book.next("a"), Reply::status(503));
        assert_eq!(book.next("b"), Reply::status(503));
        assert_eq!(book.next("c"), Reply::ok());
    }

    #[test]
    fn a_script_for_one_id_overrides_the_default_and_counts_its_earlier_attempts() {
        let mut book = Playbook::new(Script::default(), Counting::CallOrder);
        assert_eq!(book.next("x"), Reply::ok());
        book.set(
            "x",
            Script::sequence([Reply::status(500), Reply::status(410)]),
        );
        assert_eq!(book.next("x"), Reply::status(410));
        assert_eq!(book.next("y"), Reply::ok());
    }
}
