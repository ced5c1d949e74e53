//! Interoperability: a request we signed verifies with the published Python
//! `standardwebhooks` library, and with the hex recipe from the README (Python's
//! `hmac.compare_digest`). Skipped, with a note, where python3 or the package is missing
//! (`pip install standardwebhooks`).

mod reliability_support;

use reliability_support::{message, transport};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use webhook_core::signing::SignatureScheme;
use webhook_core::{Notifier, WebhookConfig};
use webhook_testkit::TestReceiver;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Reads `{"body": str, "headers": {..}}` on stdin; prints one verdict per check.
const VERIFY: &str = r#"
import hashlib, hmac, json, sys, base64
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
secret = sys.argv[1]
data = json.load(sys.stdin)
body, headers = data["body"], data["headers"]
Webhook(secret).verify(body, headers)
print("standard ok")
try:
    Webhook(secret).verify(body + " ", headers)
    print("tampered body accepted")
except WebhookVerificationError:
    print("tampered body refused")
key = base64.b64decode(secret[6:])
expected = "sha256=" + hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
print("hex ok" if hmac.compare_digest(expected, headers["x-webhook-signature-256"]) else "hex bad")
"#;

fn python_has_standardwebhooks() -> bool {
    Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_signatures_verify_with_the_published_python_library() {
    if !python_has_standardwebhooks() {
        println!(
            "skipped: python3 with `standardwebhooks` is not available \
             (pip install standardwebhooks)"
        );
        return;
    }
    let receiver = TestReceiver::builder()
        .secret(SECRET)
        .start()
        .expect("receiver");
    let config = WebhookConfig {
        signature_scheme: Some(SignatureScheme::Both),
        ..receiver.config()
    }
    .resolve()
    .expect("valid config");
    let notifier = Notifier::builder(config.clone(), transport(&config))
        .start()
        .expect("notifier starts");
    notifier.enqueue(message(1));
    let delivered = receiver
        .wait_for_deliveries(1, Duration::from_secs(10))
        .await
        .expect("delivered");
    notifier.shutdown(Duration::from_secs(1));
    let request = &delivered[0];
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.into())))
        .collect();
    let input = serde_json::json!({
        "body": std::str::from_utf8(&request.body).expect("UTF-8 JSON"),
        "headers": headers,
    });

    let mut python = Command::new("python3")
        .args(["-c", VERIFY, SECRET])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    python
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write");
    let output = python.wait_with_output().expect("python3 ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python refused our request: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["standard ok", "tampered body refused", "hex ok"]
    );
    println!("interop: python standardwebhooks verified our request; the hex recipe too");
}
