//! A real headless Chromium for end-to-end tests, driven over WebDriver
//! (Debian's `chromium` and `chromium-driver`). Without them the tests say
//! so and pass, unless `LIVEDESK_REQUIRE_CHROMIUM=1` (CI sets it).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// A Chromium session; the browser and its driver stop when dropped.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    name: String,
}

impl Browser {
    /// Starts Chromium for the test `name` (its screenshots' prefix), or
    /// `None` when this machine has no Chromium. A driver that fails to
    /// open a session (seen once in CI: it closed the connection without
    /// an answer) is replaced by a new one, twice at most; each failure is
    /// printed with the driver's log.
    pub fn start(name: &str) -> Option<Self> {
        let chromium = find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
        let driver = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            assert!(
                std::env::var("LIVEDESK_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
                "Chromium and chromium-driver are required (LIVEDESK_REQUIRE_CHROMIUM=1) but not installed"
            );
            eprintln!(
                "skipped: no Chromium here (Debian: apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::open(&chromium, &driver, name) {
                Ok(browser) => return Some(browser),
                Err(failure) => {
                    eprintln!("chromedriver failed, starting another: {failure}");
                    failures.push(failure);
                }
            }
        }
        panic!("no Chromium session after three drivers: {failures:#?}");
    }

    /// One driver on a free port and a session of it.
    fn open(chromium: &Path, driver: &Path, name: &str) -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| e.to_string())?;
        let log = std::env::temp_dir().join(format!(
            "livedesk-chromedriver-{}-{port}.log",
            std::process::id()
        ));
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start chromedriver: {e}"))?;
        let mut browser = Browser {
            driver: child,
            port,
            session: String::new(),
            name: name.to_owned(),
        };
        let with_log = |failure: String| {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("{failure}; its log ends:\n{}", tail.join("\n"))
        };
        // Ready when it answers its status as a WebDriver: a port that
        // merely accepts could belong to another process.
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = browser.driver.try_wait() {
                return Err(with_log(format!("chromedriver exited ({status})")));
            }
            if let Ok(status) = browser.request("GET", "/status", &json!({})) {
                if status["ready"] == json!(true) {
                    break;
                }
            }
            if started.elapsed() > Duration::from_secs(20) {
                return Err(with_log("chromedriver did not become ready in 20 s".into()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let answer = browser
            .request(
                "POST",
                "/session",
                &json!({ "capabilities": { "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                 "--disable-dev-shm-usage", "--window-size=1280,800"],
                    },
                    "goog:loggingPrefs": { "browser": "ALL" },
                }}}),
            )
            .map_err(with_log)?;
        browser.session = answer["sessionId"]
            .as_str()
            .ok_or_else(|| with_log(format!("no session: {answer}")))?
            .to_owned();
        let _ = std::fs::remove_file(&log);
        Ok(browser)
    }

    /// One WebDriver command; its `value`.
    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        self.request(method, path, body)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// One WebDriver command; its `value`, or what went wrong.
    fn request(&self, method: &str, path: &str, body: &Value) -> Result<Value, String> {
        let body = body.to_string();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|e| format!("chromedriver: {e}"))?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("{method} {path}: {e}"))?;
        // chromedriver keeps the connection open: read the head, then
        // exactly the body its length announces.
        let mut response = Vec::new();
        let mut chunk = [0u8; 64 * 1024];
        let mut read = |response: &mut Vec<u8>| match stream.read(&mut chunk) {
            Ok(0) => Err(format!(
                "chromedriver closed {method} {path} without an answer"
            )),
            Ok(n) => {
                response.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) => Err(format!("chromedriver's answer to {method} {path}: {e}")),
        };
        let (head_end, length) = loop {
            read(&mut response)?;
            if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                break (end + 4, length);
            }
        };
        while response.len() < head_end + length {
            read(&mut response)?;
        }
        let body = &response[head_end..head_end + length];
        let json: Value = serde_json::from_slice(body)
            .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(body)))?;
        if json["value"]["error"].is_string() {
            return Err(format!("{method} {path}: {}", json["value"]));
        }
        Ok(json["value"].clone())
    }

    fn at(&self, tail: &str) -> String {
        format!("/session/{}{tail}", self.session)
    }

    pub fn go(&self, url: &str) {
        self.call("POST", &self.at("/url"), &json!({ "url": url }));
    }

    /// Runs `script` in the page; what it returns.
    pub fn run(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.at("/execute/sync"),
            &json!({ "script": script, "args": [] }),
        )
    }

    /// The element `css` selects, waiting up to 10 s for it.
    pub fn element(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let found = self.run(&format!(
                "return document.querySelector({}) !== null",
                json!(css)
            ));
            if found == json!(true) {
                let value = self.call(
                    "POST",
                    &self.at("/element"),
                    &json!({ "using": "css selector", "value": css }),
                );
                return value[ELEMENT]
                    .as_str()
                    .unwrap_or_else(|| panic!("no element id: {value}"))
                    .to_owned();
            }
            if started.elapsed() > Duration::from_secs(10) {
                self.screenshot("missing");
                panic!("no `{css}` on the page after 10 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.call(
            "POST",
            &self.at(&format!("/element/{id}/click")),
            &json!({}),
        );
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.call(
            "POST",
            &self.at(&format!("/element/{id}/value")),
            &json!({ "text": text }),
        );
    }

    pub fn text(&self, css: &str) -> String {
        let id = self.element(css);
        self.call("GET", &self.at(&format!("/element/{id}/text")), &json!({}))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits up to 10 s for `css`'s text to satisfy `check`; the text.
    pub fn text_until(&self, css: &str, check: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let text = self.text(css);
            if check(&text) {
                return text;
            }
            if started.elapsed() > Duration::from_secs(10) {
                self.screenshot("timeout");
                panic!("`{css}` still says {text:?} after 10 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Saves a PNG of the page as `<test>-<step>.png` in
    /// `$LIVEDESK_SCREENSHOTS` (default `target/screenshots`).
    pub fn screenshot(&self, step: &str) -> PathBuf {
        let dir = std::env::var_os("LIVEDESK_SCREENSHOTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots")
            });
        let _ = std::fs::create_dir_all(&dir);
        let png = self.call("GET", &self.at("/screenshot"), &json!({}));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .unwrap_or_default();
        let path = dir.join(format!("{}-{step}.png", self.name));
        let _ = std::fs::write(&path, bytes);
        path
    }

    /// The page's console messages at level SEVERE (errors) so far.
    pub fn console_errors(&self) -> Vec<String> {
        let log = self.call("POST", &self.at("/se/log"), &json!({ "type": "browser" }));
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = self.at("");
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.call("DELETE", &path, &json!({}))
            }));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
