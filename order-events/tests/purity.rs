//! The domain core depends on no IO, async, clock or randomness crate — checked on the real
//! dependency graph, as `cargo tree -p order-events -e normal` prints it.

use std::process::Command;

/// Crates that would let the core do IO, run async code, read the clock or draw random numbers.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "rdkafka",
    "sled",
    "async-trait",
    "mio",
    "getrandom",
    "rand",
    "iana-time-zone",
];

#[test]
fn the_domain_core_has_no_io_clock_or_randomness_dependencies() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "order-events",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).unwrap();
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"serde"), "the tree was read: {crates:?}");
    let found: Vec<&&str> = FORBIDDEN
        .iter()
        .filter(|name| crates.contains(name))
        .collect();
    assert!(found.is_empty(), "order-events depends on {found:?}");
}
