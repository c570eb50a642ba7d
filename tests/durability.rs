//! "Durable" as a syscall trace shows it: every commit of the embedded log syncs its journal
//! segment (`fdatasync`) before its command is answered, and nothing calls `sync_file_range`.
//! `scripts/test.sh` installs strace.

use std::process::Command;

#[test]
fn every_embedded_commit_syncs_the_journal_before_it_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let trace = dir.path().join("trace");
    let commands = dir.path().join("stock.jsonl");
    let receipt = |n: u32| {
        format!(
            r#"{{"command_id":"00000000-0000-4000-a000-0000000000{n:02}","type":"ReceiveStock","actor":{{"kind":"service","id":"wms"}},"issued_at":"2026-11-22T10:00:00Z","payload":{{"item":{{"sku":"MUG-{n}","warehouse":"BER-1"}},"quantity":5,"reference":"PO-{n}"}}}}"#
        )
    };
    let lines: Vec<String> = (1..=3).map(receipt).collect();
    std::fs::write(&commands, lines.join("\n") + "\n").unwrap();
    let output = Command::new("strace")
        .args([
            "-f",
            "-y",
            "-s",
            "4096",
            "-e",
            "trace=fdatasync,write,sync_file_range",
            "-o",
        ])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_ledger"))
        .args(["submit", "--data"])
        .arg(&data)
        .arg(&commands)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("strace runs (scripts/test.sh installs it)");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.contains("\"accepted\""))
            .count(),
        3,
        "{stdout}"
    );
    let trace = std::fs::read_to_string(&trace).unwrap();
    let data_file = format!("{}/journal/00000000000000000000.seg>", data.display());
    assert!(
        !trace.lines().any(|line| line.contains("sync_file_range(")
            && line.contains(&format!("{}/journal", data.display()))),
        "the journal is synced with fdatasync, never sync_file_range"
    );
    let syncs: Vec<usize> = trace
        .lines()
        .enumerate()
        .filter(|(_, line)| line.contains("fdatasync(") && line.contains(&data_file))
        .map(|(i, _)| i)
        .collect();
    assert!(
        syncs.len() >= 3,
        "one sync of {data_file} per commit at least: {syncs:?}"
    );
    // Each answer printed (a write to standard output) follows a sync of the data file.
    let answers: Vec<usize> = trace
        .lines()
        .enumerate()
        .filter(|(_, line)| line.contains("write(1<") && line.contains("accepted"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(answers.len(), 3, "three answers in the trace");
    for (n, answer) in answers.iter().enumerate() {
        let synced_before = syncs.iter().filter(|&&sync| sync < *answer).count();
        assert!(
            synced_before > n,
            "answer {n} at trace line {answer} came before its sync"
        );
    }
}
