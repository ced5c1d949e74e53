//! Scripted answers: what one attempt gets ([`Reply`]) and the sequence a webhook
//! follows ([`Script`]). Both the [`ScriptedTransport`](crate::ScriptedTransport) and the
//! [`TestReceiver`](crate::TestReceiver) play them.

mod playbook;
mod reply;

pub(crate) use playbook::{Counting, Playbook};
pub use reply::{Reply, ReplyKind};

/// The replies one webhook (or, counted in call order, the whole stream of attempts)
/// gets: the listed steps in order, then one reply repeated for ever.
///
/// ```
/// use webhook_testkit::{Reply, Script};
///
/// // Two 503s, then 200 for every later attempt.
/// let script = Script::fail_then_succeed(2, 503);
/// assert_eq!(script.reply_for(0), &Reply::status(503));
/// assert_eq!(script.reply_for(1), &Reply::status(503));
/// assert_eq!(script.reply_for(2), &Reply::ok());
/// assert_eq!(script.reply_for(99), &Reply::ok());
///
/// // Any sequence; what follows it defaults to 200.
/// let script = Script::sequence([Reply::close(), Reply::status(429).retry_after(std::time::Duration::from_secs(1))])
///     .then(Reply::status(204));
/// assert_eq!(script.reply_for(5), &Reply::status(204));
/// ```
///
/// # Default
/// [`Script::always`]`(`[`Reply::ok`]`())`: every attempt answered 200.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    steps: Vec<Reply>,
    then: Reply,
}

impl Default for Script {
    fn default() -> Self {
        Self::always(Reply::ok())
    }
}

impl From<Reply> for Script {
    fn from(reply: Reply) -> Self {
        Self::always(reply)
    }
}

impl Script {
    /// The same reply to every attempt.
    pub fn always(reply: Reply) -> Self {
        Self {
            steps: Vec::new(),
            then: reply,
        }
    }

    /// `replies` in order, then 200 for every later attempt (change that with
    /// [`Script::then`]).
    pub fn sequence(replies: impl IntoIterator<Item = Reply>) -> Self {
        Self {
            steps: replies.into_iter().collect(),
            then: Reply::ok(),
        }
    }

    /// `failures` attempts answered with `status`, then 200.
    ///
    /// # Panics
    /// If `status` is not an HTTP status code (100..=999).
    pub fn fail_then_succeed(failures: usize, status: u16) -> Self {
        Self::sequence(std::iter::repeat_n(Reply::status(status), failures))
    }

    /// Sets the reply that follows the listed steps, for ever.
    pub fn then(mut self, reply: Reply) -> Self {
        self.then = reply;
        self
    }

    /// The reply to the attempt at `index` (0 for the first).
    pub fn reply_for(&self, index: usize) -> &Reply {
        self.steps.get(index).unwrap_or(&self.then)
    }

    /// How many listed steps come before the repeated reply.
    pub fn steps(&self) -> usize {
        self.steps.len()
    }
}
