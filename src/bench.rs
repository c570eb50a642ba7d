//! `ledger bench`: the front door under the peer's workload.
//!
//! The peer (cqrs-es + postgres-es, `../shared/peers/`) decides per order PlaceOrder,
//! ReserveStock, CapturePayment and Ship. Here the same orders go through HTTP as a checkout
//! service would send them: C clients, each running its orders one after another —
//! `POST /v1/commands` PlaceOrder, `GET /v1/orders/{id}?at_least=P:O` until the order is
//! `awaiting_payment` (the order process plans, reserves and confirms its stock), then
//! CapturePayment and Ship. Every run starts a fresh `ledger serve` on a data directory of its
//! own, as a child process, so the serve's CPU is measured apart from the clients'.
//!
//! Printed per C: orders/s, client and decided commands/s, CPU per order of the serve and of
//! the clients, the machine's limit for this workload at that CPU per order, and p50/p99 per
//! command.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use chrono::SecondsFormat;
use command_handler::Clock as _;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Orders per run.
    pub orders: usize,
    /// One run per client count, in this order.
    pub clients: Vec<usize>,
    /// SKUs the orders are spread over (the peer's 100).
    pub skus: usize,
    /// The `ledger` binary to serve with.
    pub ledger: PathBuf,
    /// A ledger.toml for the serve.
    pub config: Option<PathBuf>,
    /// Where the runs' data directories go (each removed after its run).
    pub scratch: PathBuf,
}

/// Latencies of one kind of request, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunFigures {
    pub clients: usize,
    pub orders: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// From the first order sent to the last answer.
    pub seconds: f64,
    pub orders_per_s: f64,
    /// The commands the clients sent (3 per order) per second.
    pub client_commands_per_s: f64,
    /// Every command the handler decided in the run (the order process's too), per order.
    pub decided_per_order: f64,
    pub decided_commands_per_s: f64,
    pub serve_cpu_ms_per_order: f64,
    pub clients_cpu_ms_per_order: f64,
    /// Orders/s this machine could reach if all its cores did nothing but this workload at
    /// the measured CPU per order (serve and clients).
    pub machine_limit_orders_per_s: f64,
    pub place: Latency,
    pub wait_awaiting_payment: Latency,
    pub capture: Latency,
    pub ship: Latency,
}

/// Runs the workload once per client count.
pub fn run(
    options: &BenchOptions,
    progress: &mut dyn std::io::Write,
) -> anyhow::Result<Vec<RunFigures>> {
    if options.orders == 0 || options.skus == 0 || options.clients.contains(&0) {
        bail!("orders, SKUs and every client count must be at least 1");
    }
    let mut runs = Vec::new();
    for &clients in &options.clients {
        writeln!(
            progress,
            "bench: {} orders with {clients} clients",
            options.orders
        )?;
        runs.push(run_once(options, clients)?);
    }
    Ok(runs)
}

fn run_once(options: &BenchOptions, clients: usize) -> anyhow::Result<RunFigures> {
    let data = options
        .scratch
        .join(format!("bench-{}-c{clients}", random_uuid()?.simple()));
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    let serve = Serve::start(options, &data)?;
    let figures = drive(options, clients, &serve);
    drop(serve);
    std::fs::remove_dir_all(&data).with_context(|| format!("removing {}", data.display()))?;
    figures
}

/// A `ledger serve` child process; stopped when dropped.
struct Serve {
    child: Child,
    http: Http,
}

impl Serve {
    fn start(options: &BenchOptions, data: &Path) -> anyhow::Result<Serve> {
        let mut command = Command::new(&options.ledger);
        if let Some(config) = &options.config {
            command.arg("--config").arg(config);
        }
        let log = std::fs::File::create(data.join("serve.log"))?;
        let mut child = command
            .arg("serve")
            .arg("--data")
            .arg(data)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", options.ledger.display()))?;
        match wait_until_listening(&mut child, data) {
            Ok(http) => Ok(Serve { child, http }),
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(error)
            }
        }
    }

    fn cpu_seconds(&self) -> anyhow::Result<f64> {
        cpu_seconds(&self.child.id().to_string())
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The serve's client, once it wrote its address and token to `data`.
fn wait_until_listening(child: &mut Child, data: &Path) -> anyhow::Result<Http> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let address = std::fs::read_to_string(data.join(crate::running::ADDRESS_FILE));
        let token = std::fs::read_to_string(data.join("serve.token"));
        if let (Ok(address), Ok(token)) = (address, token) {
            if !address.trim().is_empty() && !token.trim().is_empty() {
                return Ok(Http::new(address.trim(), token.trim()));
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "the serve exited with {status} before listening (see its log in {})",
                data.display()
            );
        }
        if Instant::now() > deadline {
            bail!("the serve did not listen within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// utime + stime of a process (`self` or a pid), in seconds.
fn cpu_seconds(pid: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (tick(11), tick(12)) {
        // The kernel reports in clock ticks of USER_HZ, 100 on Linux.
        (Some(user), Some(system)) => Ok((user + system) / 100.0),
        _ => bail!("unreadable /proc/{pid}/stat"),
    }
}

fn drive(options: &BenchOptions, clients: usize, serve: &Serve) -> anyhow::Result<RunFigures> {
    let run = random_uuid()?;
    let http = &serve.http;
    stock(http, run, options)?;
    http.settle()?;
    let decided_before = http.decided()?;
    let (serve_cpu, clients_cpu) = (serve.cpu_seconds()?, cpu_seconds("self")?);
    let started = Instant::now();
    let tally = orders(http, run, options, clients);
    let seconds = started.elapsed().as_secs_f64();
    http.settle()?;
    let decided = http.decided()? - decided_before;
    let serve_cpu = serve.cpu_seconds()? - serve_cpu;
    let clients_cpu = cpu_seconds("self")? - clients_cpu;
    Ok(tally.figures(clients, seconds, decided, serve_cpu, clients_cpu))
}

/// Enough stock of every SKU for every order, received before the clock starts.
fn stock(http: &Http, run: Uuid, options: &BenchOptions) -> anyhow::Result<()> {
    let need = (options.orders / options.skus.max(1) + 1) as u64 * QUANTITY * 2;
    for sku in 0..options.skus {
        let command_id = Uuid::new_v5(&run, format!("stock/{sku}").as_bytes());
        let body = format!(
            r#"{{"command_id":"{command_id}","type":"ReceiveStock","actor":{{"kind":"service","id":"wms"}},"issued_at":"{now}","payload":{{"item":{{"sku":"SKU-{sku}","warehouse":"BER-1"}},"quantity":{need},"reference":"PO-{sku}"}}}}"#,
            now = now()
        );
        http.command(&body)
            .with_context(|| format!("receiving stock of SKU-{sku}"))?;
    }
    Ok(())
}

const QUANTITY: u64 = 2;

/// A fresh random id: each run's commands are its own, never retries of an earlier run's.
fn random_uuid() -> anyhow::Result<Uuid> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("reading random bytes: {e}"))?;
    Ok(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

fn now() -> String {
    command_handler::SystemClock
        .now()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    place: Vec<u32>,
    wait: Vec<u32>,
    capture: Vec<u32>,
    ship: Vec<u32>,
    orders: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn fail(&mut self, error: anyhow::Error) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| format!("{error:#}"));
    }

    fn merge(&mut self, other: Tally) {
        self.place.extend(other.place);
        self.wait.extend(other.wait);
        self.capture.extend(other.capture);
        self.ship.extend(other.ship);
        self.orders += other.orders;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn figures(
        mut self,
        clients: usize,
        seconds: f64,
        decided: f64,
        serve_cpu: f64,
        clients_cpu: f64,
    ) -> RunFigures {
        let orders = self.orders.max(1) as f64;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let cpu_ms = (serve_cpu + clients_cpu) * 1000.0 / orders;
        RunFigures {
            clients,
            orders: self.orders,
            errors: self.errors,
            first_error: self.first_error.take(),
            seconds,
            orders_per_s: self.orders as f64 / seconds,
            client_commands_per_s: (self.place.len() + self.capture.len() + self.ship.len()) as f64
                / seconds,
            decided_per_order: decided / orders,
            decided_commands_per_s: decided / seconds,
            serve_cpu_ms_per_order: serve_cpu * 1000.0 / orders,
            clients_cpu_ms_per_order: clients_cpu * 1000.0 / orders,
            machine_limit_orders_per_s: cores * 1000.0 / cpu_ms,
            place: latency(&mut self.place),
            wait_awaiting_payment: latency(&mut self.wait),
            capture: latency(&mut self.capture),
            ship: latency(&mut self.ship),
        }
    }
}

fn latency(micros: &mut [u32]) -> Latency {
    micros.sort_unstable();
    let at = |p: f64| {
        micros
            .get(((micros.len().max(1) - 1) as f64 * p).round() as usize)
            .map_or(f64::NAN, |&us| f64::from(us) / 1000.0)
    };
    Latency {
        count: micros.len(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
    }
}

/// The clients: each runs orders `c, c + C, c + 2C, …`; all stop after 20 errors.
fn orders(http: &Http, run: Uuid, options: &BenchOptions, clients: usize) -> Tally {
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..clients)
        .map(|client| {
            let (http, stop, options) = (http.again(), stop.clone(), options.clone());
            std::thread::spawn(move || {
                let mut tally = Tally::default();
                for number in (client..options.orders).step_by(clients) {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Err(error) = order(&http, run, number, options.skus, &mut tally) {
                        tally.fail(error);
                        if tally.errors >= 20 {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for handle in handles {
        match handle.join() {
            Ok(part) => tally.merge(part),
            Err(_) => tally.fail(anyhow::anyhow!("a client thread panicked")),
        }
    }
    tally
}

fn micros_since(start: Instant) -> u32 {
    u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX)
}

/// One order: place, wait until awaiting payment, capture, ship.
fn order(
    http: &Http,
    run: Uuid,
    number: usize,
    skus: usize,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let reference = format!("BENCH-{}-{number}", run.simple());
    let order_id = order_events::ids::OrderId::for_external_reference("web", &reference);
    let sku = format!("SKU-{}", number % skus.max(1));
    let id = |step: &str| Uuid::new_v5(&run, format!("{number}/{step}").as_bytes());
    let place = format!(
        r#"{{"command_id":"{cid}","type":"PlaceOrder","actor":{{"kind":"service","id":"checkout"}},"issued_at":"{now}","payload":{{"channel":"web","external_reference":"{reference}","customer_id":"cust-{customer}","merchant_id":"merchant-{merchant}","currency":"EUR","lines":[{{"sku":"{sku}","quantity":{QUANTITY},"unit_price":"59.90"}}],"shipping_fee":"4.90","discounts":[],"shipping_address":{{"recipient":"Jonas Schmidt","phone":"+49 40 555 0101","street":"Jungfernstieg 7","city":"Hamburg","postal_code":"20354","country":"DE"}}}}}}"#,
        cid = id("place"),
        now = now(),
        customer = number % 997,
        merchant = number % 7,
    );
    let started = Instant::now();
    let placed = http.command(&place)?;
    tally.place.push(micros_since(started));
    let started = Instant::now();
    let total = http.awaiting_payment(&order_id.to_string(), &placed)?;
    tally.wait.push(micros_since(started));
    let capture = format!(
        r#"{{"command_id":"{cid}","type":"CapturePayment","actor":{{"kind":"service","id":"psp-bridge"}},"issued_at":"{now}","payload":{{"order_id":"{order_id}","payment_id":"pay-{number}","method":"card","amount":"{total}","currency":"EUR","psp_reference":"psp-{run}-{number}"}}}}"#,
        cid = id("capture"),
        now = now(),
    );
    let started = Instant::now();
    http.command(&capture)?;
    tally.capture.push(micros_since(started));
    let ship = format!(
        r#"{{"command_id":"{cid}","type":"Ship","actor":{{"kind":"service","id":"wms"}},"issued_at":"{now}","payload":{{"order_id":"{order_id}","shipment_id":"parcel-{number}","carrier":"dhl","tracking_number":"TRK{number}","lines":[{{"sku":"{sku}","quantity":{QUANTITY}}}],"freight_cost":"4.10","weight_grams":780}}}}"#,
        cid = id("ship"),
        now = now(),
    );
    let started = Instant::now();
    http.command(&ship)?;
    tally.ship.push(micros_since(started));
    tally.orders += 1;
    Ok(())
}

/// A client of one serve.
struct Http {
    agent: ureq::Agent,
    /// `host:port`.
    address: String,
    token: String,
}

impl Http {
    fn new(address: &str, token: &str) -> Http {
        Http {
            agent: crate::running::client(Duration::from_secs(55), Some(token.to_owned())),
            address: address.to_owned(),
            token: token.to_owned(),
        }
    }

    /// Another client of the same serve, with connections of its own.
    fn again(&self) -> Http {
        Http::new(&self.address, &self.token)
    }

    /// GETs `path`, waiting out 429s as the serve says.
    fn get(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("http://{}{path}", self.address);
        let mut response = self
            .agent
            .get(&url)
            .call()
            .with_context(|| format!("GET {path}"))?;
        let status = response.status();
        let body: Value = response
            .body_mut()
            .read_json()
            .with_context(|| format!("GET {path}"))?;
        if status != 200 {
            bail!("GET {path}: {status} {body}");
        }
        Ok(body)
    }

    /// Posts a command; its result when accepted.
    fn command(&self, body: &str) -> anyhow::Result<Value> {
        let base = format!("http://{}", self.address);
        let answer = crate::running::post_command_line(&self.agent, &base, body, false)?;
        if answer["outcome"] != "accepted" {
            bail!("a command was not accepted: {answer}");
        }
        Ok(answer)
    }

    /// Waits (server side first, then by asking again) until the order awaits payment;
    /// returns its total.
    fn awaiting_payment(&self, order_id: &str, placed: &Value) -> anyhow::Result<String> {
        let event = &placed["events"][0];
        let (partition, offset) = (event["partition"].as_u64(), event["offset"].as_u64());
        let (Some(partition), Some(offset)) = (partition, offset) else {
            bail!("a PlaceOrder result without its event's position: {placed}");
        };
        // The stock confirmation is at least three events of this order after OrderPlaced.
        let mut path = format!("/v1/orders/{order_id}?at_least={partition}:{}", offset + 3);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let order = self.get(&path)?;
            match order["status"].as_str() {
                Some("awaiting_payment") => {
                    return Ok(order["total"].as_str().unwrap_or_default().to_owned())
                }
                Some("placed") if Instant::now() < deadline => {}
                other => bail!("order {order_id} is {other:?}, not awaiting_payment"),
            }
            std::thread::sleep(Duration::from_micros(500));
            path = format!("/v1/orders/{order_id}");
        }
    }

    /// Commands decided so far, from `/metrics`.
    fn decided(&self) -> anyhow::Result<f64> {
        let url = format!("http://{}/metrics", self.address);
        let text = self.agent.get(&url).call()?.body_mut().read_to_string()?;
        Ok(text
            .lines()
            .filter(|line| line.starts_with("ledger_commands_total"))
            .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum())
    }

    /// Waits until the handler decided nothing for a while and the read models have no lag.
    fn settle(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut before = -1.0;
        loop {
            let decided = self.decided()?;
            let lag = self.get("/v1/projections/status")?["lag_total"].as_u64();
            if lag == Some(0) && decided == before {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the serve did not settle within 120 s (lag {lag:?})");
            }
            before = decided;
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

/// The figures as a table, one row per run.
pub fn write_table(out: &mut dyn std::io::Write, runs: &[RunFigures]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>4} {:>7} {:>9} {:>10} {:>11} {:>10} {:>11} {:>11} {:>15} {:>15} {:>15} {:>15}",
        "C",
        "orders",
        "orders/s",
        "client c/s",
        "decided c/s",
        "serve ms/o",
        "client ms/o",
        "limit o/s",
        "place p50/p99",
        "wait p50/p99",
        "capture p50/99",
        "ship p50/p99"
    )?;
    for run in runs {
        let pair = |l: &Latency| format!("{:.2}/{:.2}", l.p50_ms, l.p99_ms);
        writeln!(
            out,
            "{:>4} {:>7} {:>9.1} {:>10.1} {:>11.1} {:>10.3} {:>11.3} {:>11.0} {:>15} {:>15} {:>15} {:>15}",
            run.clients, run.orders, run.orders_per_s, run.client_commands_per_s, run.decided_commands_per_s,
            run.serve_cpu_ms_per_order, run.clients_cpu_ms_per_order, run.machine_limit_orders_per_s,
            pair(&run.place), pair(&run.wait_awaiting_payment), pair(&run.capture), pair(&run.ship)
        )?;
        if let Some(error) = &run.first_error {
            writeln!(out, "     {} errors; the first: {error}", run.errors)?;
        }
    }
    Ok(())
}
