//! A real PostgreSQL server for the tests: a throwaway cluster started
//! once per test process, and a fresh database for each test.
//!
//! `LIVEDESK_TEST_POSTGRES` may name a server to use instead (a URL whose
//! user may create databases). Otherwise the cluster is made with the
//! installed `initdb` (Debian's `postgresql` package) in a temporary
//! directory, run as the `postgres` user when the tests run as root (the
//! server refuses root), on a free local port, and stopped when the test
//! process ends. Without PostgreSQL these tests print why and pass, unless
//! `LIVEDESK_REQUIRE_POSTGRES=1` (CI) makes that a failure.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The server's administrative URL, without a database.
static SERVER: OnceLock<Result<String, String>> = OnceLock::new();

static DATABASES: AtomicU32 = AtomicU32::new(0);

/// A new, empty database's URL; `None` (with a note on standard error)
/// when no PostgreSQL is available and none is required.
pub fn database() -> Option<String> {
    fresh(false)
}

/// Like [`database`], on a server that flushes its commits as a
/// production one does (for benchmarks) — if this process starts it.
pub fn durable_database() -> Option<String> {
    fresh(true)
}

fn fresh(durable: bool) -> Option<String> {
    let server = match SERVER.get_or_init(|| start(durable)) {
        Ok(server) => server,
        Err(why) => {
            if std::env::var("LIVEDESK_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("PostgreSQL is required (LIVEDESK_REQUIRE_POSTGRES=1) but: {why}");
            }
            eprintln!("skipped: no PostgreSQL for this test ({why})");
            return None;
        }
    };
    let name = format!(
        "livedesk_test_{}_{}",
        std::process::id(),
        DATABASES.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = postgres::Client::connect(&format!("{server}/postgres"), postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL: {e}"));
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("cannot create a test database: {e}"));
    Some(format!("{server}/{name}"))
}

fn start(durable: bool) -> Result<String, String> {
    if let Ok(url) = std::env::var("LIVEDESK_TEST_POSTGRES") {
        return Ok(url.trim_end_matches('/').to_owned());
    }
    let bin = binaries().ok_or("no `initdb` found (install Debian's `postgresql`)")?;
    let dir = std::env::temp_dir().join(format!("livedesk-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let user = server_user();
    if let Some((uid, gid)) = user.as_ref().map(|(_, ids)| *ids) {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
            .map_err(|e| format!("cannot hand {} to the server's user: {e}", dir.display()))?;
    }
    let data = dir.join("data");
    let run = |program: &str, args: &[&str]| -> Result<(), String> {
        let mut command = match &user {
            Some((name, _)) => {
                let mut c = Command::new("runuser");
                c.args(["-u", name, "--"]).arg(bin.join(program));
                c
            }
            None => Command::new(bin.join(program)),
        };
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    };
    let data_arg = data.to_string_lossy().into_owned();
    run(
        "initdb",
        &[
            "-D",
            &data_arg,
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        ],
    )?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    // Durability is not what the tests examine (they kill LiveDesk, not
    // the server): unless asked for it, the server skips its flushes.
    let flushes = if durable {
        ""
    } else {
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    };
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200{flushes}",
        dir.display()
    );
    let log = dir.join("server.log").to_string_lossy().into_owned();
    run(
        "pg_ctl",
        &["-D", &data_arg, "-o", &options, "-l", &log, "-w", "start"],
    )?;
    stop_when_done(
        &bin,
        &data,
        &dir,
        user.as_ref().map(|(name, _)| name.as_str()),
    );
    Ok(format!("postgres://postgres@127.0.0.1:{port}"))
}

/// Where the server's programs are.
fn binaries() -> Option<PathBuf> {
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if dir.join("initdb").is_file() {
            return Some(dir);
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

/// The user to run the server as when the tests run as root, with its
/// uid and gid.
fn server_user() -> Option<(String, (u32, u32))> {
    let me = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&me.stdout).trim() != "0" {
        return None;
    }
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some(("postgres".into(), (id("-u")?, id("-g")?)))
}

/// Stops the server and removes its files once this test process exits
/// (test processes end without running destructors of statics).
fn stop_when_done(bin: &Path, data: &Path, dir: &Path, user: Option<&str>) {
    let pg_ctl = bin.join("pg_ctl");
    let stop = match user {
        Some(user) => format!(
            "runuser -u {user} -- {} -D {} -m immediate stop",
            pg_ctl.display(),
            data.display()
        ),
        None => format!(
            "{} -D {} -m immediate stop",
            pg_ctl.display(),
            data.display()
        ),
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}
