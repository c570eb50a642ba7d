//! An embedded `ledger serve` whose disk fills up mid-load stops with the path and the
//! reason, and leaves no half-written state: after the restart the log verifies, holds the
//! commands that were answered (and the refused one whole or not at all), and takes the rest.
//!
//! The full disk is the process's file-size limit (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored):
//! a write beyond it fails with `EFBIG` the way a write on a full disk fails with `ENOSPC`,
//! through the same error paths, without root or a small filesystem to mount.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use uuid::Uuid;

/// Bytes any file of the serve may grow to: the log reaches it after about a thousand
/// commands.
const FILE_SIZE_MAX: u64 = 3_000_000;

fn ledger(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(args)
        .output()
        .unwrap()
}

fn line(i: u64) -> String {
    serde_json::json!({
        "command_id": Uuid::from_u128(0xd15c_0000 + u128::from(i)).to_string(),
        "type": "ReceiveStock",
        "actor": {"kind": "service", "id": "wms"},
        "issued_at": "2026-11-30T00:00:00Z",
        "payload": {
            "item": {"sku": format!("SKU-{}", i % 50), "warehouse": "BER-1"},
            "quantity": 1,
            "reference": format!("PO-{i}-{}", "x".repeat(100)),
        }
    })
    .to_string()
}

fn event_ids(result: &Value) -> Vec<Value> {
    result["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {result}"))
        .iter()
        .map(|event| event["event_id"].clone())
        .collect()
}

/// The event count of `replay verify`'s summary line (`N events, M aggregates, ...`).
fn event_count(line: &str) -> Option<usize> {
    let (count, rest) = line.split_once(' ')?;
    rest.starts_with("events, ").then(|| count.parse().ok())?
}

fn verified(data: &Path) -> String {
    let output = ledger(&["replay", "--data", data.to_str().unwrap(), "verify"]);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
#[allow(unsafe_code)]
fn a_disk_full_mid_load_stops_the_serve_cleanly_and_a_restart_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_ledger"));
    serve
        .args(["serve", "--data", data.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec only async-signal-safe calls (signal, setrlimit).
    unsafe {
        serve.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: FILE_SIZE_MAX,
                rlim_max: FILE_SIZE_MAX,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut serve = serve.spawn().unwrap();
    let stderr = {
        let mut pipe = serve.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut pipe, &mut text).unwrap();
            text
        })
    };

    // Post commands until the log refuses one for want of space.
    let mut answered: Vec<Value> = Vec::new();
    let refused = loop {
        assert!(answered.len() < 20_000, "the disk never filled up");
        let Some(endpoint) = order_ledger::running::Endpoint::of(&data) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let mut response = endpoint
            .client(Duration::from_secs(30))
            .post(&format!("{}/v1/commands", endpoint.url))
            .header("content-type", "application/json")
            .send(line(answered.len() as u64))
            .unwrap();
        let status = response.status().as_u16();
        let answer: Value = response.body_mut().read_json().unwrap();
        if status != 200 {
            break (status, answer);
        }
        assert_eq!(answer["outcome"], "accepted", "{answer}");
        answered.push(answer);
    };
    assert_eq!(refused.0, 503, "{refused:?}");
    assert_eq!(refused.1["error"], "storage_failed", "{refused:?}");
    println!("the disk filled up after {} commands", answered.len());

    // The serve stops by itself, saying where and why, without a panic.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = serve.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            serve.kill().unwrap();
            panic!(
                "the serve still runs 60 s after its disk filled up:\n{}",
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = stderr.join().unwrap();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("ledger: the log cannot be ")
            && last.contains(data.to_str().unwrap())
            && last.contains("File too large"),
        "{last}"
    );

    // After the restart (the space back): the answered commands are there, whole.
    let after_crash = verified(&data);
    assert!(after_crash.contains("0 breaks: intact"), "{after_crash}");
    // The refused command was in the log or not, and decided or not, when the write failed:
    // its events are there whole or not at all; nothing else is.
    let events: usize = after_crash
        .lines()
        .find_map(event_count)
        .unwrap_or_else(|| panic!("no event count in {after_crash}"));
    assert!(
        events == answered.len() || events == answered.len() + 1,
        "{events} events after {} answered commands",
        answered.len()
    );
    // The whole load, again, without a serve: what was answered is answered the same, and
    // everything else is taken now.
    let total = answered.len() as u64 + 500;
    let load = dir.path().join("load.jsonl");
    let lines: Vec<String> = (0..total).map(line).collect();
    std::fs::write(&load, lines.join("\n")).unwrap();
    let output = ledger(&[
        "submit",
        "--data",
        data.to_str().unwrap(),
        load.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    let results: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len() as u64, total);
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["outcome"], "accepted", "{result}");
        if let Some(before) = answered.get(i) {
            assert_eq!(event_ids(result), event_ids(before), "command {i}");
        }
    }
    let after_all = verified(&data);
    assert!(
        after_all.contains(&format!("{total} events, 50 aggregates"))
            && after_all.contains("0 breaks: intact"),
        "{after_all}"
    );
}
