//! Redaction: the one place that decides what of a URL, an error or a secret may be
//! shown.
//!
//! Every path that writes text a person or a store will see goes through here:
//! destinations in logs and records ([`url`], [`Destination`]'s
//! redacted form), error texts in records, logs and diagnostics ([`Redactor::scrub`]),
//! and details copied from other libraries' messages ([`clip`], [`first_line`]). A new
//! field that can hold a secret is redacted by calling one of these, not by a twin.
//!
//! The rules:
//! - a URL shows only `scheme://host[:port]/…`: never credentials, path or query;
//! - an error text loses every occurrence of the destination's path, query and
//!   credentials and of every configured secret, then is clipped to
//!   [`MAX_ERROR_CHARS`] characters;
//! - a detail copied from a library is its first line, clipped.

use crate::config::Destination;
use crate::signing::Secret;
use base64::Engine as _;
use http::Uri;

/// The longest error text a record keeps.
pub const MAX_ERROR_CHARS: usize = 400;

/// What replaces a scrubbed URL part or credential.
const CUT: &str = "…";
/// What replaces a scrubbed secret.
const SECRET: &str = "***";
/// Secrets shorter than this are not searched for (they would match ordinary words).
const MIN_SECRET_LEN: usize = 4;

/// Renders any URL text as `scheme://host[:port]/…`, dropping credentials, path and
/// query. Text that is not a URL renders as `<invalid url>`.
///
/// Credentials are cut at the last `@` of the authority before parsing, so a password
/// holding `/`, `?` or `#` is dropped too rather than read as a path.
///
/// ```
/// use webhook_core::redact;
/// assert_eq!(redact::url("https://u:p@h.example:8443/x?token=1"), "https://h.example:8443/…");
/// assert_eq!(redact::url("https://u:p/a?b#c@h.example/x"), "https://h.example/…");
/// assert_eq!(redact::url("not a url"), "<invalid url>");
/// ```
pub fn url(text: &str) -> String {
    let text = text.trim();
    let Some((scheme, rest)) = text.split_once("://") else {
        return INVALID.to_owned();
    };
    let first = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    // Credentials end at the last `@` of the authority. A password holding `/`, `?` or
    // `#` makes the first segment look like `user:pa`, which is no host and port: then
    // the authority is whatever follows the text's last `@`.
    let authority = match first.rfind('@') {
        Some(at) => &first[at + 1..],
        None if host_and_port(scheme, first).is_none() => match rest.rfind('@') {
            Some(at) => {
                let after = &rest[at + 1..];
                &after[..after.find(['/', '?', '#']).unwrap_or(after.len())]
            }
            None => first,
        },
        None => first,
    };
    host_and_port(scheme, authority).unwrap_or_else(|| INVALID.to_owned())
}

/// What [`url`] shows for text that is not a URL.
const INVALID: &str = "<invalid url>";

/// `scheme://host[:port]/…` when `authority` is a host with an optional numeric port.
fn host_and_port(scheme: &str, authority: &str) -> Option<String> {
    let uri = format!("{scheme}://{authority}/").parse::<Uri>().ok()?;
    let (scheme, authority) = (uri.scheme_str()?, uri.authority()?);
    let port_text = authority.as_str().rsplit_once(':').filter(|(host, _)| {
        !host.ends_with(':') && (!host.starts_with('[') || host.ends_with(']'))
    });
    if let Some((_, port)) = port_text {
        if !port.is_empty() && authority.port_u16().is_none() {
            return None;
        }
    }
    if authority.host().is_empty() || authority.as_str().contains('@') {
        return None;
    }
    Some(parts(
        &scheme.to_ascii_lowercase(),
        authority.host(),
        authority.port_u16(),
    ))
}

/// `text` with every URL in it (a `scheme://` and what follows up to whitespace, a
/// quote or a backtick) rendered as [`url`] renders it: for messages that may quote
/// what a person typed, such as a parse error of a command line or a configuration file.
///
/// ```
/// use webhook_core::redact;
/// assert_eq!(
///     redact::urls_in("bad value `https://u:p/w@h.example/x?k=1` at line 2"),
///     "bad value `https://h.example/…` at line 2"
/// );
/// assert_eq!(redact::urls_in("no url here"), "no url here");
/// ```
pub fn urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find("://") {
        let start = rest[..found]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let end = rest[found..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>'))
            .map_or(rest.len(), |i| found + i);
        out.push_str(&rest[..start]);
        if start == found {
            // `://` without a scheme: not a URL, but it may still carry credentials.
            out.push_str(INVALID);
        } else {
            out.push_str(&url(&rest[start..end]));
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// `scheme://host[:port]/…`.
pub(crate) fn parts(scheme: &str, host: &str, port: Option<u16>) -> String {
    match port {
        Some(port) => format!("{scheme}://{host}:{port}/{CUT}"),
        None => format!("{scheme}://{host}/{CUT}"),
    }
}

/// `text` cut to at most `max` characters (on a character boundary).
///
/// ```
/// assert_eq!(webhook_core::redact::clip("héllo", 2), "hé");
/// ```
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text.to_owned(),
    }
}

/// The first line of a library's message, at most `max` characters, with `…` when cut:
/// for details copied from errors whose full text may carry more than they should.
///
/// ```
/// assert_eq!(webhook_core::redact::first_line("bad thing\nat /secret/path", 40), "bad thing");
/// assert_eq!(webhook_core::redact::first_line("abcdef", 3), "abc…");
/// ```
pub fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(max) {
        Some((at, _)) => format!("{}{CUT}", &line[..at]),
        None => line.to_owned(),
    }
}

/// Removes what a configuration makes secret (the destination's path, query and
/// credentials; every signing secret) from texts before anyone sees them.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Texts replaced by `…`, longest first.
    url_parts: Vec<String>,
    /// Secrets replaced by `***`.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("hidden_texts", &(self.url_parts.len() + self.secrets.len()))
            .finish()
    }
}

impl Redactor {
    /// A redactor for this destination and these secrets.
    pub fn new(destination: Option<&Destination>, secrets: &[Secret]) -> Self {
        let mut url_parts = destination.map(destination_parts).unwrap_or_default();
        url_parts.retain(|s| s.len() > 1);
        url_parts.sort_by_key(|s| std::cmp::Reverse(s.len()));
        // Each key as text, and as the base64 a `whsec_` secret is written in.
        let secrets = secrets
            .iter()
            .flat_map(|s| {
                let written = base64::engine::general_purpose::STANDARD.encode(s.key());
                s.as_text().map(str::to_owned).into_iter().chain([written])
            })
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        Self { url_parts, secrets }
    }

    /// `text` without any secret or URL part, clipped to [`MAX_ERROR_CHARS`].
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for needle in &self.url_parts {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), CUT);
            }
        }
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), SECRET);
            }
        }
        clip(&out, MAX_ERROR_CHARS)
    }
}

/// The destination's path and query (whole and apart) and its credentials.
fn destination_parts(dest: &Destination) -> Vec<String> {
    let mut parts = Vec::new();
    if let Some(pq) = dest.uri().path_and_query() {
        if pq.as_str().len() > 1 {
            parts.push(pq.as_str().to_owned());
            parts.push(pq.path().to_owned());
            if let Some(q) = pq.query() {
                parts.push(q.to_owned());
            }
        }
    }
    if let Some((user, password)) = dest.basic_auth() {
        parts.push(format!("{user}:{password}"));
        if !password.is_empty() {
            parts.push(password.to_owned());
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DestinationPolicy;

    fn destination(url: &str) -> Destination {
        Destination::parse(url, DestinationPolicy::default()).expect("valid destination")
    }

    #[test]
    fn urls_keep_only_scheme_host_and_port() {
        assert_eq!(url("http://a:b@h:1/x?y"), "http://h:1/…");
        assert_eq!(url("HTTPS://h.example"), "https://h.example/…");
        assert_eq!(url("https://h.example?q=1#f"), "https://h.example/…");
        assert_eq!(url("https://[::1]:8080/p"), "https://[::1]:8080/…");
        assert_eq!(url("::nonsense"), "<invalid url>");
        assert_eq!(url("https://"), "<invalid url>");
    }

    #[test]
    fn passwords_holding_url_delimiters_never_show() {
        for password in ["p/ss", "p?ss", "p#ss", "p@ss", "a/b?c#d@e"] {
            let text = format!("https://user:{password}@hooks.example/in?k=v");
            let shown = url(&text);
            assert_eq!(shown, "https://hooks.example/…", "{text}");
            assert!(!shown.contains("ss") && !shown.contains("user"));
        }
    }

    #[test]
    fn scrub_removes_path_query_credentials_and_secrets_and_clips() {
        let dest = destination("https://user:hunter22@hooks.example/in/tok3n?key=abc123");
        let secrets = [Secret::parse("s3cr3t-value").expect("secret")];
        let redactor = Redactor::new(Some(&dest), &secrets);
        let text = "failed /in/tok3n?key=abc123 and /in/tok3n and key=abc123 \
                    user:hunter22 hunter22 s3cr3t-value";
        let out = redactor.scrub(text);
        for gone in ["tok3n", "abc123", "hunter22", "s3cr3t-value"] {
            assert!(!out.contains(gone), "{gone} in {out}");
        }
        assert!(out.contains("***"));
        let long = "é".repeat(1000);
        assert_eq!(redactor.scrub(&long).chars().count(), MAX_ERROR_CHARS);
    }

    #[test]
    fn short_secrets_and_root_paths_are_not_searched_for() {
        let dest = destination("https://hooks.example/");
        let secrets = [Secret::parse("abc").expect("secret")];
        let redactor = Redactor::new(Some(&dest), &secrets);
        assert_eq!(redactor.scrub("abc / abc"), "abc / abc");
        assert!(!format!("{redactor:?}").contains("abc"));
    }

    #[test]
    fn first_line_and_clip_cut_on_character_boundaries() {
        assert_eq!(first_line("ééé\nsecond", 2), "éé…");
        assert_eq!(first_line("", 2), "");
        assert_eq!(clip("ééé", 5), "ééé");
    }
}
