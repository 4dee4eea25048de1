//! Headless Chromium, driven over WebDriver: `chromedriver` (Debian's `chromium-driver`, the
//! same version as `chromium`) starts the browser, and `fantoccini` speaks WebDriver to it.
//!
//! Every wait is bounded by [`WAIT`], and a missing browser fails the test with the command
//! that installs it: browser tests never skip.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fantoccini::wd::{WebDriverCompatibleCommand, WindowHandle};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout};

/// How long any wait for the page may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

/// The flags Chromium needs here: no sandbox (we run as root in a container), no GPU, none of
/// the background traffic a fresh profile would start, and trust in the servers' self-signed
/// certificates (`--tls`), as a person who accepted the warning once.
const CHROMIUM_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--ignore-certificate-errors",
];

const INSTALL_HINT: &str = "the browser tests need Chromium and its driver: `scripts/test.sh` \
    installs them, or run `apt-get install -y chromium chromium-driver`";

/// One browser, with one window to start with, and a profile of its own.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    /// Starts `chromedriver` on a free port and opens a session in a fresh Chromium profile,
    /// with a window of `width` x `height` pixels.
    pub async fn start(width: u32, height: u32) -> Self {
        Self::launch(width, height, json!({})).await
    }

    /// [`Browser::start`], with a profile that sends cookies to other sites' servers, as
    /// Chrome's default profile does: this Chromium blocks them by default, as Safari, Firefox
    /// and every private window do (the book's chapter "Who may read what" says what follows).
    pub async fn start_allowing_third_party_cookies(width: u32, height: u32) -> Self {
        Self::launch(width, height, json!({ "profile.cookie_controls_mode": 0 })).await
    }

    async fn launch(width: u32, height: u32, prefs: Value) -> Self {
        let mut driver = Command::new("chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // A process group of its own, so that the browser it starts can be stopped with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromedriver ({e}): {INSTALL_HINT}"));
        let port = driver_port(&mut driver).await;
        let profile = fresh_profile();
        let mut flags: Vec<String> = CHROMIUM_FLAGS.map(String::from).to_vec();
        flags.push(format!("--user-data-dir={}", profile.display()));
        flags.push(format!("--window-size={width},{height}"));
        let capabilities = json!({
            "goog:chromeOptions": { "args": flags, "prefs": prefs },
            // Keep the console, to check that the page threw no error.
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap_or_else(|e| panic!("cannot start Chromium ({e}): {INSTALL_HINT}"));
        Self {
            client,
            driver,
            profile,
        }
    }

    /// Opens `url` in the current window.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// Opens `url` in a new tab of this browser, which becomes the current one; returns its
    /// handle, for [`Browser::switch_to`].
    pub async fn open_tab(&self, url: &str) -> WindowHandle {
        let tab = self
            .client
            .new_window(true)
            .await
            .unwrap_or_else(|e| panic!("opening a tab: {e}"));
        self.switch_to(&tab.handle).await;
        self.goto(url).await;
        tab.handle
    }

    /// The current tab's handle.
    pub async fn current_tab(&self) -> WindowHandle {
        self.client.window().await.expect("a current window")
    }

    /// Makes the tab `handle` the current one.
    pub async fn switch_to(&self, handle: &WindowHandle) {
        self.client
            .switch_to_window(handle.clone())
            .await
            .unwrap_or_else(|e| panic!("switching tabs: {e}"));
    }

    /// The value of a JavaScript expression in the current window.
    pub async fn eval(&self, expression: &str) -> Value {
        self.client
            .execute(&format!("return ({expression});"), vec![])
            .await
            .unwrap_or_else(|e| panic!("evaluating {expression}: {e}"))
    }

    /// Polls `expression` until it is truthy and returns its value; fails the test after
    /// [`WAIT`], saying what was awaited and what the expression last gave.
    pub async fn wait_until(&self, expression: &str, what: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.eval(expression).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!(0)
                && value != json!("");
            if truthy {
                return value;
            }
            if started.elapsed() > WAIT {
                panic!("waited {WAIT:?} for {what}; `{expression}` is {value}");
            }
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element `css` matches, as a user would.
    pub async fn click(&self, css: &str) {
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Errors the page's scripts threw or logged since the last call (network errors, such as
    /// a refused connection, are the page's business and not counted).
    pub async fn script_errors(&self) -> Vec<String> {
        let log = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .unwrap_or_else(|e| panic!("reading the browser's console: {e}"));
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE" && entry["source"] != "network")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// A PNG of the current window.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client.screenshot().await.expect("a screenshot")
    }

    /// Ends the session politely; dropping the browser then stops what is left.
    pub async fn close(self) {
        let _ = timeout(WAIT, self.client.clone().close()).await;
    }
}

impl Drop for Browser {
    /// Stops chromedriver and every browser process it started (also when a test fails
    /// half-way, which would otherwise leave Chromium running), and removes the profile.
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            let group = format!("-{pid}");
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &group])
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `chromedriver --port=0` picks a port and says which: "... started successfully on port N."
async fn driver_port(driver: &mut Child) -> u16 {
    let stdout = driver.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let find = async {
        while let Some(line) = lines.next_line().await.ok().flatten() {
            if let Some(rest) = line.split("successfully on port ").nth(1) {
                return rest.trim_end_matches('.').trim().parse().ok();
            }
        }
        None
    };
    let port = timeout(WAIT, find).await.ok().flatten();
    port.unwrap_or_else(|| panic!("chromedriver did not say its port: {INSTALL_HINT}"))
}

/// A new, empty directory for one browser's profile.
fn fresh_profile() -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sse-browser-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a browser profile directory");
    dir
}

/// chromedriver's console log endpoint (not in the W3C standard, so not in fantoccini).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}
