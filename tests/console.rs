//! The web console (`console/`), checked as people and its builders meet it:
//! - the committed build (`console/dist`, embedded in the binary) is what its sources build to,
//!   type-checked — so nobody ships a console whose sources say something else;
//! - in a real browser (Debian's Chromium, headless, driven by playwright-core), a person signs
//!   in to a serve of the demo's shop and every page shows its figures
//!   (`console/tests/console.test.mjs`, which also saves the README's screenshots).
//!
//! Both need `npm ci` in `console/` and Chromium; `scripts/test.sh` installs them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn console() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("console")
}

/// Runs `command` in `console/`, failing the test with its output when it fails.
fn run(command: &mut Command, what: &str) -> String {
    let output = command
        .current_dir(console())
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not start: {e} (run scripts/test.sh once)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{what} failed:\n{text}");
    text
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut found = std::collections::BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                found.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

#[test]
fn the_committed_console_build_is_what_its_sources_build_to() {
    run(Command::new("npx").args(["tsc", "--noEmit"]), "type check");
    let out = tempfile::tempdir().unwrap();
    run(
        Command::new("npx")
            .args(["vite", "build", "--logLevel", "warn", "--outDir"])
            .arg(out.path()),
        "vite build",
    );
    let (built, committed) = (files(out.path()), files(&console().join("dist")));
    let names = |files: &std::collections::BTreeMap<String, Vec<u8>>| {
        files.keys().cloned().collect::<Vec<_>>()
    };
    assert_eq!(
        names(&built),
        names(&committed),
        "console/dist is stale: run `npm run build` in console/ and commit dist/"
    );
    for (name, bytes) in &built {
        assert!(
            &committed[name] == bytes,
            "console/dist/{name} differs from its build: run `npm run build` in console/"
        );
    }
}

#[test]
fn the_console_in_a_real_browser_shows_every_page_to_the_roles_that_may_see_it() {
    let output = run(
        Command::new("node")
            .args(["--test", "--test-reporter=tap", "tests/"])
            .env("LEDGER_BIN", env!("CARGO_BIN_EXE_ledger")),
        "the console's browser tests",
    );
    println!("{output}");
    let count = |what: &str| {
        output
            .lines()
            .find_map(|line| line.strip_prefix(&format!("# {what} ")))
            .and_then(|n| n.trim().parse::<u32>().ok())
    };
    assert_eq!(count("fail"), Some(0), "{output}");
    assert!(
        count("pass") >= Some(8),
        "the browser tests did not all run:\n{output}"
    );
}

#[test]
fn demo_serve_keeps_the_shop_up_with_the_console_and_an_admin_token_to_sign_in_with() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr");
    let mut demo = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["demo", "--orders", "60", "--serve", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .env("LEDGER_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Read on, and kept open while the serve runs: a reader gone would fail its next write.
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let announced = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.starts_with("console: "));
    // console: http://127.0.0.1:PORT/ — sign in with this admin token: TOKEN
    // (the port is bound before it is announced, so requests wait for the serve to start)
    let asked = announced.as_ref().map(|line| {
        let url = line["console: ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .to_owned();
        let token = line.rsplit(' ').next().unwrap().to_owned();
        let page = ureq::get(&url)
            .call()
            .map(|r| r.into_body().read_to_string());
        let whoami = ureq::get(&format!("{url}v1/whoami"))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .map(|r| r.into_body().read_to_string());
        (page, whoami)
    });
    let _ = demo.kill();
    let _ = demo.wait();
    drop(lines);
    let (page, whoami) = asked.expect("the demo announces its console and a token");
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    let page = page
        .unwrap_or_else(|e| panic!("the console's page: {e}\n{stderr}"))
        .unwrap();
    assert!(page.contains("<div id=\"app\">"), "{page}");
    let whoami = whoami.expect("whoami with the announced token").unwrap();
    let whoami: serde_json::Value = serde_json::from_str(&whoami).unwrap();
    assert_eq!(whoami["roles"], serde_json::json!(["admin"]), "{whoami}");
    assert_eq!(whoami["access"]["finance"], true, "{whoami}");
}
