//! Who may use the HTTP API: bearer tokens, each with roles, checked per route.
//!
//! Tokens are configured by name with the SHA-256 of the token (never the token itself) and
//! their roles, in `[auth]` of `ledger.toml` or in `LEDGER_AUTH_TOKENS`; `ledger token` makes a
//! new one. Every route but `/v1/health` declares the roles it admits ([`Access`]); a request
//! without a known token gets 401, one whose token has none of the route's roles 403. `admin`
//! is admitted everywhere.
//!
//! A serve on an embedded data directory also writes a fresh admin token for this run to
//! `<data>/serve.token` (readable by its owner only), beside `serve.addr`, so the command line
//! on the same machine (`ledger submit --data`, `ledger query --data`, `replay-tool --data`)
//! goes through without configuration.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use order_events::{ActorKind, Command, CommandEnvelope};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The environment variable with more tokens: `name:sha256:role+role`, comma-separated.
pub const TOKENS_ENV: &str = "LEDGER_AUTH_TOKENS";

/// What a token may do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Submit commands (other services: checkout, payment bridge, warehouse).
    Service,
    /// Read the projections and reports.
    Analyst,
    /// Read the event log (replay, export, verify) and the read models.
    Auditor,
    /// Reconcile, record settlements, pay merchants and carriers; read balances.
    Finance,
    /// Everything, including rebuilding the read models.
    Admin,
}

impl Role {
    /// The name configuration and error messages use: `service`, `finance`, ...
    pub fn code(self) -> &'static str {
        match self {
            Role::Service => "service",
            Role::Analyst => "analyst",
            Role::Auditor => "auditor",
            Role::Finance => "finance",
            Role::Admin => "admin",
        }
    }

    pub const ALL: [Role; 5] = [
        Role::Service,
        Role::Analyst,
        Role::Auditor,
        Role::Finance,
        Role::Admin,
    ];
}

/// One configured token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Who holds it, for the logs.
    pub name: String,
    /// SHA-256 of the token, hex.
    pub sha256: String,
    pub roles: Vec<Role>,
}

/// `[auth]` of `ledger.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// Require a token on every route but `/v1/health`. Turn off only for a serve nobody else
    /// can reach.
    pub required: bool,
    pub tokens: Vec<TokenEntry>,
    /// Requests per second one token may make (bursts of up to a second's worth); beyond it
    /// the answer is 429 with `Retry-After` (and `retry_after_ms`) saying when the budget
    /// has room again. 0: no limit. The default is above what one serve can take, so it only
    /// stops a client gone wild, never a checkout service at the ledger's own pace.
    pub requests_per_second_max: u32,
}

impl Default for AuthSection {
    fn default() -> AuthSection {
        AuthSection {
            required: true,
            tokens: Vec::new(),
            requests_per_second_max: DEFAULT_REQUESTS_PER_SECOND,
        }
    }
}

/// The default request budget of a token: several times the requests a serve on this class
/// of machine answers (BENCHMARKS.md), so one busy service is limited by the ledger, not by
/// its token.
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 50_000;

/// Who made a request: the token's name and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub roles: BTreeSet<Role>,
}

impl Caller {
    pub fn may(&self, role: Role) -> bool {
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }

    /// Whether this caller passes a route's `access`.
    pub fn passes(&self, access: Access) -> bool {
        access.0.iter().any(|&role| self.may(role)) || self.may(Role::Admin)
    }
}

/// `GET /v1/whoami`: the caller's token name, roles, and which kinds of route it may use — so
/// a client (the console) shows only what the token may see.
pub async fn whoami(axum::Extension(caller): axum::Extension<Caller>) -> Response {
    let roles: Vec<&str> = caller.roles.iter().map(|role| role.code()).collect();
    Json(json!({
        "token": caller.name,
        "roles": roles,
        "access": {
            "read": caller.passes(Access::READ),
            "finance": caller.passes(Access::FINANCE),
            "log": caller.passes(Access::LOG),
            "commands": caller.passes(Access::COMMANDS),
            "metrics": caller.passes(Access::METRICS),
            "admin": caller.passes(Access::ADMIN),
        },
    }))
    .into_response()
}

/// The token table of a serve, with each token's request budget.
#[derive(Debug, Default)]
pub struct Auth {
    required: bool,
    by_hash: HashMap<[u8; 32], Caller>,
    /// Requests per second per token; 0: no limit.
    rate_per_second: u32,
    buckets: std::sync::Mutex<HashMap<[u8; 32], Bucket>>,
}

/// A token bucket: `level` requests may be made now; it refills at the rate, up to a second's
/// worth.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    level: f64,
    at: std::time::Instant,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The SHA-256 of a token, hex: what the configuration stores.
pub fn sha256_hex(token: &str) -> String {
    hex::encode(digest(token))
}

/// A new random token: 256 bits from the operating system's generator, hex. Without that
/// generator no safe token can be made, and there is nothing to fall back to.
pub fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|error| anyhow::anyhow!("the system's random source failed: {error}"))?;
    Ok(hex::encode(bytes))
}

impl Auth {
    /// Every request admitted: for tests and a serve nobody else can reach.
    pub fn open() -> Auth {
        Auth::default()
    }

    /// Tokens required, none known yet.
    pub fn closed() -> Auth {
        Auth {
            required: true,
            ..Auth::default()
        }
    }

    /// Limits each token to `per_second` requests a second (0: no limit).
    pub fn with_rate_limit(mut self, per_second: u32) -> Auth {
        self.rate_per_second = per_second;
        self
    }

    /// Takes one request from the budget of the token hashing to `key`; when it is spent,
    /// how long until it holds a request again.
    fn admit(&self, key: [u8; 32]) -> Result<(), Duration> {
        self.admit_at(key, std::time::Instant::now())
    }

    /// [`admit`](Self::admit) at `now` (tests move time by hand).
    fn admit_at(&self, key: [u8; 32], now: std::time::Instant) -> Result<(), Duration> {
        if self.rate_per_second == 0 {
            return Ok(());
        }
        let rate = f64::from(self.rate_per_second);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key).or_insert(Bucket {
            level: rate,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * rate;
        bucket.level = (bucket.level + refill).min(rate);
        bucket.at = now;
        if bucket.level >= 1.0 {
            bucket.level -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.level) / rate))
        }
    }

    /// The configured tokens plus those of `env` (the value of [`TOKENS_ENV`], if set).
    pub fn from_config(section: &AuthSection, env: Option<&str>) -> Result<Auth, String> {
        let mut auth = Auth {
            required: section.required,
            rate_per_second: section.requests_per_second_max,
            ..Auth::default()
        };
        for entry in &section.tokens {
            auth.add_hashed(entry)?;
        }
        for item in env
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let parts: Vec<&str> = item.split(':').collect();
            let [name, sha256, roles] = parts[..] else {
                return Err(format!(
                    "{TOKENS_ENV}: '{item}' is not name:sha256:role+role"
                ));
            };
            let roles = roles
                .split('+')
                .map(|role| {
                    <Role as clap::ValueEnum>::from_str(role, false)
                        .map_err(|_| format!("{TOKENS_ENV}: unknown role '{role}' of {name}"))
                })
                .collect::<Result<Vec<Role>, String>>()?;
            auth.add_hashed(&TokenEntry {
                name: name.to_owned(),
                sha256: sha256.to_owned(),
                roles,
            })?;
        }
        Ok(auth)
    }

    fn add_hashed(&mut self, entry: &TokenEntry) -> Result<(), String> {
        let bytes = hex::decode(&entry.sha256)
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| {
                format!(
                    "token '{}': sha256 is not 64 hex digits (make one with `ledger token`)",
                    entry.name
                )
            })?;
        if entry.roles.is_empty() {
            return Err(format!("token '{}' has no roles", entry.name));
        }
        let caller = Caller {
            name: entry.name.clone(),
            roles: entry.roles.iter().copied().collect(),
        };
        if self.by_hash.insert(bytes, caller).is_some() {
            return Err(format!("token '{}' is configured twice", entry.name));
        }
        Ok(())
    }

    /// Adds a token given in clear (the serve's own admin token, tests).
    pub fn with_token(mut self, token: &str, name: &str, roles: &[Role]) -> Auth {
        self.by_hash.insert(
            digest(token),
            Caller {
                name: name.to_owned(),
                roles: roles.iter().copied().collect(),
            },
        );
        self
    }

    pub fn required(&self) -> bool {
        self.required
    }

    /// No token known.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Who presents `authorization` (the header's value), if a known token, with the token's
    /// hash. The scheme's name is case-insensitive (RFC 9110, 11.1): `bearer` is `Bearer`.
    fn caller(&self, authorization: Option<&str>) -> Option<([u8; 32], Caller)> {
        let (scheme, token) = authorization?.trim_start().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let token = token.trim();
        let key = digest(token);
        self.by_hash.get(&key).map(|caller| (key, caller.clone()))
    }
}

/// The roles a route admits (admin always).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access(pub &'static [Role]);

impl Access {
    pub const COMMANDS: Access = Access(&[Role::Service, Role::Finance]);
    pub const READ: Access = Access(&[Role::Analyst, Role::Auditor, Role::Finance]);
    pub const FINANCE: Access = Access(&[Role::Finance]);
    pub const LOG: Access = Access(&[Role::Auditor]);
    pub const METRICS: Access = Access(&[Role::Analyst]);
    pub const ADMIN: Access = Access(&[]);
    pub const ANY: Access = Access(&[Role::Service, Role::Analyst, Role::Auditor, Role::Finance]);
}

/// The 429 of a spent budget: `Retry-After` in whole seconds (rounded up, as the header
/// counts), `retry_after_ms` in the body for clients that can wait less.
fn rate_limited(name: &str, rate: u32, wait: Duration) -> Response {
    let millis = wait.as_millis().max(1);
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let body = json!({
        "error": "rate_limited",
        "reason": format!("token '{name}' is over its {rate} requests per second"),
        "retry_after_ms": millis,
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from(seconds.max(1)),
    );
    response
}

fn refuse(status: StatusCode, code: &str, reason: String) -> Response {
    let mut response = (status, Json(json!({"error": code, "reason": reason}))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// The middleware of a route that admits `access`: 401 without a known token, 403 without one
/// of its roles; otherwise the [`Caller`] goes on in the request's extensions.
pub async fn authorize(
    State((auth, access)): State<(Arc<Auth>, Access)>,
    mut request: Request,
    next: Next,
) -> Response {
    if !auth.required() {
        let everything = Caller {
            name: "anonymous".to_owned(),
            roles: [Role::Admin].into(),
        };
        request.extensions_mut().insert(everything);
        return next.run(request).await;
    }
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let Some((key, caller)) = auth.caller(header) else {
        let reason = match header {
            None => "this route needs a bearer token (Authorization: Bearer <token>)",
            Some(_) => "the bearer token is not one this serve knows",
        };
        return refuse(StatusCode::UNAUTHORIZED, "unauthorized", reason.to_owned());
    };
    if !caller.passes(access) {
        let wanted: Vec<String> = access
            .0
            .iter()
            .chain([&Role::Admin])
            .map(|role| role.code().to_owned())
            .collect();
        return refuse(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "token '{}' lacks the role this route needs: one of {}",
                caller.name,
                wanted.join(", ")
            ),
        );
    }
    if let Err(wait) = auth.admit(key) {
        return rate_limited(&caller.name, auth.rate_per_second, wait);
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// Whether `caller` may submit `command` over HTTP: finance's commands need the finance role,
/// and only an admin may speak as the ledger itself (the `system` actor).
pub fn may_submit(caller: &Caller, command: &CommandEnvelope) -> Result<(), String> {
    if command.actor.kind == ActorKind::System && !caller.may(Role::Admin) {
        return Err(format!(
            "token '{}' may not issue commands as the system actor",
            caller.name
        ));
    }
    if finance_only(&command.command) && !caller.may(Role::Finance) {
        return Err(format!(
            "{} is finance's: token '{}' lacks the finance role",
            command.command.type_name(),
            caller.name
        ));
    }
    if !finance_only(&command.command) && !caller.may(Role::Service) {
        return Err(format!(
            "{} is a service's command: token '{}' lacks the service role",
            command.command.type_name(),
            caller.name
        ));
    }
    Ok(())
}

/// Finance's commands: moving money out, and recording what the providers and reconciliations
/// say.
pub fn finance_only(command: &Command) -> bool {
    use order_events::account::AccountCommand as A;
    match command {
        Command::Account(
            A::RecordPspSettlement(_)
            | A::PayoutMerchant(_)
            | A::RecordCarrierInvoice(_)
            | A::PayCarrier(_)
            | A::RecordCodRemittance(_),
        )
        | Command::Reconciliation(_) => true,
        Command::Account(
            A::AccrueMerchantEarnings(_)
            | A::ChargeMerchantRefund(_)
            | A::StartReturnWindow(_)
            | A::AccrueCarrierFreight(_)
            | A::AccrueCarrierCod(_)
            | A::ChargeMerchantFreight(_),
        )
        | Command::Order(_)
        | Command::Stock(_)
        | Command::Wave(_) => false,
    }
}

/// Writes this run's admin token into the data directory, readable by its owner only.
pub fn write_token_file(data: &Path, token: &str) -> std::io::Result<()> {
    let path = data.join(crate::running::TOKEN_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&path)?, token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_the_file_and_the_environment_hashed() {
        let section = AuthSection {
            tokens: vec![TokenEntry {
                name: "checkout".to_owned(),
                sha256: sha256_hex("secret-1"),
                roles: vec![Role::Service],
            }],
            ..AuthSection::default()
        };
        let env = format!(
            "bi:{}:analyst+auditor, fin:{}:finance",
            sha256_hex("secret-2"),
            sha256_hex("secret-3")
        );
        let auth = Auth::from_config(&section, Some(&env)).unwrap();
        let roles = |token: &str| {
            auth.caller(Some(&format!("Bearer {token}")))
                .map(|(_, caller)| (caller.name, caller.roles.into_iter().collect::<Vec<_>>()))
        };
        assert_eq!(
            roles("secret-1"),
            Some(("checkout".into(), vec![Role::Service]))
        );
        assert_eq!(
            roles("secret-2"),
            Some(("bi".into(), vec![Role::Analyst, Role::Auditor]))
        );
        assert_eq!(roles("secret-3").unwrap().1, vec![Role::Finance]);
        assert_eq!(roles("secret-4"), None);
        assert_eq!(auth.caller(Some("Basic c2VjcmV0LTE=")), None);
        assert_eq!(auth.caller(None), None);
        // The scheme's name is case-insensitive; the token is not.
        for header in ["bearer secret-1", "BEARER secret-1", "Bearer  secret-1 "] {
            assert_eq!(auth.caller(Some(header)).unwrap().1.name, "checkout");
        }
        assert_eq!(auth.caller(Some("Bearer SECRET-1")), None);
        assert_eq!(auth.caller(Some("Bearersecret-1")), None);
    }

    #[test]
    fn bad_token_entries_are_refused_by_name() {
        let bad = |sha256: &str, roles: Vec<Role>| AuthSection {
            tokens: vec![TokenEntry {
                name: "x".to_owned(),
                sha256: sha256.to_owned(),
                roles,
            }],
            ..AuthSection::default()
        };
        let short = Auth::from_config(&bad("abc", vec![Role::Admin]), None).unwrap_err();
        assert!(short.contains("64 hex digits"), "{short}");
        let none = Auth::from_config(&bad(&sha256_hex("t"), vec![]), None).unwrap_err();
        assert!(none.contains("no roles"), "{none}");
        let env = Auth::from_config(&AuthSection::default(), Some("x:abc")).unwrap_err();
        assert!(env.contains("name:sha256:role+role"), "{env}");
        let role = format!("x:{}:root", sha256_hex("t"));
        let role = Auth::from_config(&AuthSection::default(), Some(&role)).unwrap_err();
        assert!(role.contains("unknown role 'root'"), "{role}");
    }

    #[test]
    fn a_spent_budget_refills_at_the_rate_and_says_how_long_to_wait() {
        let auth = Auth::closed().with_rate_limit(5);
        let (checkout, bi) = (digest("checkout"), digest("bi"));
        let start = std::time::Instant::now();
        let at = |millis: u64| start + Duration::from_millis(millis);
        // A second's worth at once, then the budget is spent.
        for _ in 0..5 {
            assert_eq!(auth.admit_at(checkout, at(0)), Ok(()));
        }
        let wait = auth.admit_at(checkout, at(0)).unwrap_err();
        assert_eq!(
            wait,
            Duration::from_millis(200),
            "one request refills in 1/5 s"
        );
        // Another token has a budget of its own.
        assert_eq!(auth.admit_at(bi, at(0)), Ok(()));
        // Not yet after 150 ms (a refusal takes nothing), then once the wait has passed.
        let left = auth.admit_at(checkout, at(150)).unwrap_err();
        assert!(left <= Duration::from_millis(51), "{left:?}");
        assert_eq!(auth.admit_at(checkout, at(200)), Ok(()));
        assert!(auth.admit_at(checkout, at(200)).is_err());
        // A long pause refills no more than a second's worth.
        for _ in 0..5 {
            assert_eq!(auth.admit_at(checkout, at(60_000)), Ok(()));
        }
        assert!(auth.admit_at(checkout, at(60_000)).is_err());
    }

    #[test]
    fn new_tokens_are_long_and_different() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
