//! Runs the real `livedesk` binary for end-to-end tests and talks to it
//! over real HTTP.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The agent tokens and secrets `examples/support-desk.livedesk` reads.
pub const ENV: &[(&str, &str)] = &[
    ("ALICE_TOKEN", "alice-token"),
    ("BOB_TOKEN", "bob-token"),
    ("CAROL_TOKEN", "carol-token"),
    ("DAVE_TOKEN", "dave-token"),
    ("APP_IDENTITY_SECRET", "app-identity-secret"),
    ("LIVEDESK_ADMIN_TOKEN", "admin-token"),
];

pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

/// A running daemon; killed when dropped.
pub struct Daemon {
    child: Child,
    pub address: String,
    pub file: PathBuf,
    pub data: PathBuf,
    extra: Vec<String>,
}

impl Daemon {
    /// Starts `livedesk serve file` on a free port with its data in `data`,
    /// the clock starting at `now` when given.
    pub fn start(file: &Path, data: &Path, now: Option<&str>) -> Self {
        Self::start_with(file, data, now, &[])
    }

    /// Like [`Daemon::start`], with more `serve` flags.
    pub fn start_with(file: &Path, data: &Path, now: Option<&str>, extra: &[&str]) -> Self {
        Self::start_in(
            Command::new(env!("CARGO_BIN_EXE_livedesk")),
            file,
            data,
            now,
            extra,
        )
    }

    /// Starts `livedesk serve file` on the shared database at `url`
    /// (`postgres://…`), with more `serve` flags.
    pub fn start_on(file: &Path, url: &str, extra: &[&str]) -> Self {
        Self::start_with(file, Path::new(url), None, extra)
    }

    /// Like [`Daemon::start`], under a file-descriptor limit of `nofile`
    /// (soft and hard), as `ulimit -n` sets it.
    pub fn start_with_nofile(file: &Path, data: &Path, nofile: u32) -> Self {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_livedesk"));
        Self::start_in(command, file, data, None, &[])
    }

    fn start_in(
        mut command: Command,
        file: &Path,
        data: &Path,
        now: Option<&str>,
        extra: &[&str],
    ) -> Self {
        command
            .arg("serve")
            .arg(file)
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .envs(ENV.iter().copied())
            .env("RUST_LOG", "livedesk=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(now) = now {
            command.args(["--now", now]);
        }
        // Load in tests is not what the per-inbox limit guards against;
        // a test of the limit passes its own.
        if !extra.contains(&"--inbox-rate-limit") {
            command.args(["--inbox-rate-limit", "0"]);
        }
        command.args(extra);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start livedesk: {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            let line = match lines.next() {
                Some(Ok(line)) => line,
                _ => panic!("livedesk exited before it was serving"),
            };
            if let Some((_, address)) = line.split_once(" on http://") {
                break address.trim().to_owned();
            }
        };
        // Keep draining stdout so the daemon never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Daemon {
            child,
            address,
            file: file.to_owned(),
            data: data.to_owned(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Kills the daemon (no graceful shutdown) and starts it again on the
    /// same data, the clock starting at `now` when given.
    pub fn restart(&mut self, now: Option<&str>) {
        self.kill();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        *self = Daemon::start_with(&self.file.clone(), &self.data.clone(), now, &extra);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`HUP`, `TERM`, `KILL`) to the daemon.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the daemon to exit; whether it exited with success.
    pub fn wait(&mut self) -> bool {
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let (status, text) = self.raw(method, path, token, body.as_bytes());
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        (status, json)
    }

    /// One HTTP/1.1 request on a fresh connection; the status and body.
    pub fn raw(&self, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.address)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.address));
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            self.address,
            body.len()
        );
        if let Some(token) = token {
            head += &format!("api_access_token: {token}\r\n");
        }
        head += "\r\n";
        let _ = stream.write_all(head.as_bytes());
        // A server that refuses the body early may close before it is sent.
        let _ = stream.write_all(body);
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("{method} {path}: no response: {text:?}"));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line: {head}"));
        (status, body.to_owned())
    }

    pub fn get(&self, path: &str) -> Value {
        self.ok("GET", path, None, "")
    }

    pub fn post(&self, path: &str, body: &str) -> Value {
        self.ok("POST", path, None, body)
    }

    /// A request that must succeed; its JSON.
    pub fn ok(&self, method: &str, path: &str, token: Option<&str>, body: &str) -> Value {
        let (status, json) = self.request(method, path, token, body);
        assert_eq!(status, 200, "{method} {path} {body}: {json}");
        json
    }

    /// An agent API call with `token`.
    pub fn agent(&self, token: &str, method: &str, path: &str, body: &str) -> Value {
        self.ok(
            method,
            &format!("/api/v1/accounts/1{path}"),
            Some(token),
            body,
        )
    }

    /// The inbox identifier of `channel`, from the agent API.
    pub fn inbox(&self, channel: &str) -> String {
        let inboxes = self.agent("alice-token", "GET", "/inboxes", "");
        inboxes["payload"]
            .as_array()
            .and_then(|list| list.iter().find(|i| i["name"] == channel))
            .and_then(|i| i["inbox_identifier"].as_str())
            .unwrap_or_else(|| panic!("no inbox {channel}: {inboxes}"))
            .to_owned()
    }

    pub fn set_availability(&self, token: &str, availability: &str) {
        self.ok(
            "POST",
            "/api/v1/profile/availability",
            Some(token),
            &format!(r#"{{"profile": {{"availability": "{availability}"}}}}"#),
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `check` until it returns `Some`, for at most `limit`.
pub fn eventually<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(started.elapsed() < limit, "gave up waiting after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A client of a daemon's address, for threads that outlive a borrow.
#[derive(Clone)]
pub struct Probe {
    pub address: String,
}

impl Probe {
    /// One request on a fresh connection; its status, or `None` when the
    /// daemon is gone or closed the connection without an answer.
    pub fn request(&self, method: &str, path: &str, body: &str) -> Option<u16> {
        self.send(method, path, body, &[]).map(|(status, _)| status)
    }

    /// Like [`Probe::request`] with extra headers; the status and body.
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        self.send(method, path, body, headers)
            .unwrap_or_else(|| panic!("{method} {path}: no answer"))
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Option<(u16, String)> {
        self.exchange(method, path, body, headers)
            .map(|(status, _, body)| (status, body))
    }

    /// One request on a fresh connection: the status, the response's head
    /// (status line and headers) and its body.
    pub fn exchange(
        &self,
        method: &str,
        path: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Option<(u16, String, String)> {
        let mut stream = TcpStream::connect(&self.address).ok()?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            body.len()
        );
        for (name, value) in headers {
            request += &format!("{name}: {value}\r\n");
        }
        request += "\r\n";
        request += body;
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).ok()?;
        let text = String::from_utf8_lossy(&response).into_owned();
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split(' ').nth(1)?.parse().ok()?;
        Some((status, head.to_owned(), body.to_owned()))
    }
}
