//! `ledger query`: the read API from the command line. Through the HTTP API of a serve that
//! owns the data directory, or — when none runs — by catching the read models up with the log
//! in this process and answering locally. Both give the same JSON; `--table` and `--csv` turn
//! it into a readable table or a CSV file for analysts.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::api::{self, ReadContext, Route};
use crate::config::LedgerConfig;
use crate::log_admin::LogOptions;
use crate::running::Endpoint;

/// A query as the command line gives it: route, path segments, parameters.
pub struct CliQuery {
    pub route: Route,
    pub path: Vec<String>,
    pub params: Vec<(String, String)>,
}

/// The answer to `query`, and with `every_page` the rows of every page after it too (a listing
/// is paged; CSV for a spreadsheet wants all of it): the pages' `items` in one list, `next`
/// cleared.
pub fn all_pages(
    mut ask: impl FnMut(&CliQuery) -> anyhow::Result<Value>,
    query: &CliQuery,
    every_page: bool,
) -> anyhow::Result<Value> {
    let mut answer = ask(query)?;
    if !every_page {
        return Ok(answer);
    }
    while let Some(next) = answer["next"].as_str().map(str::to_owned) {
        let mut params: Vec<(String, String)> = query
            .params
            .iter()
            .filter(|(name, _)| name != "after")
            .cloned()
            .collect();
        params.push(("after".to_owned(), next));
        let page = ask(&CliQuery {
            route: query.route,
            path: query.path.clone(),
            params,
        })?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if let Some(all) = answer["items"].as_array_mut() {
            all.extend(items);
        }
        answer["next"] = page["next"].clone();
    }
    Ok(answer)
}

/// Answers through the serve listening at `address`.
pub fn via_serve(serve: &Endpoint, query: &CliQuery) -> anyhow::Result<Value> {
    let base = &serve.url;
    let agent = serve.client(Duration::from_secs(80));
    let url = format!("{base}{}", query.route.url_path(&query.path));
    let mut request = agent.get(&url);
    for (name, value) in &query.params {
        request = request.query(name, value);
    }
    let mut response = request
        .call()
        .map_err(|e| anyhow::anyhow!("asking the serve at {base}: {e}"))?;
    let status = response.status();
    let value: Value = response
        .body_mut()
        .read_json()
        .map_err(|e| anyhow::anyhow!("reading the serve's answer: {e}"))?;
    if !status.is_success() {
        anyhow::bail!(
            "{} ({status})",
            value["reason"]
                .as_str()
                .unwrap_or("the serve refused the query")
        );
    }
    Ok(value)
}

/// Answers in this process: opens the log and the read models, folds what they miss, asks.
pub async fn locally(
    config: &LedgerConfig,
    options: &LogOptions,
    query: &CliQuery,
) -> anyhow::Result<Value> {
    let log = crate::log_admin::open_existing(options).await?;
    let mut context = caught_up_context(log, config.read_side_for(options, "query")).await?;
    // The webhook deliveries' journal, where a serve of this deployment keeps it.
    let section = &config.notifications;
    let dir = section.state_dir.clone().or_else(|| {
        let embedded = options.kafka.is_none();
        embedded.then(|| options.data.join(crate::notify::STATE_DIR))
    });
    if let (Some(dir), false) = (dir, section.webhooks.is_empty()) {
        context.deliveries = crate::notify::Deliveries::Journal(dir, section.clone());
    }
    api::run(&context, query.route, &query.path, query.params.clone())
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))
}

/// The read API's context over the read models `read_side` names, folded up to `log`'s end
/// first: what answers a query with no serve running.
pub async fn caught_up_context(
    log: Arc<dyn event_log::Log>,
    read_side: crate::serve::ReadSide,
) -> anyhow::Result<ReadContext> {
    let read_models = crate::serve::open_read_models(&read_side)?;
    projections::worker::catch_up(log.as_ref(), read_models.store()).await?;
    read_models.store().flush()?;
    let (_, projections) =
        projections::worker::ProjectionWorker::new(log, read_models, read_side.group)?;
    Ok(ReadContext {
        projections,
        clock: Arc::new(command_handler::SystemClock),
        slas: read_side.slas,
        policy: read_side.policy,
        bins: Arc::new(read_side.bins),
        deliveries: crate::notify::Deliveries::None,
    })
}

/// `ledger rebuild` through a serve: starts the rebuild and waits until it is done.
pub fn rebuild_via_serve(serve: &Endpoint) -> anyhow::Result<Value> {
    let base = &serve.url;
    let agent = serve.client(Duration::from_secs(50));
    let mut response = agent
        .post(&format!("{base}/v1/projections/rebuild"))
        .send_empty()
        .map_err(|e| anyhow::anyhow!("asking the serve at {base}: {e}"))?;
    let answer: Value = response.body_mut().read_json()?;
    anyhow::ensure!(
        response.status().is_success(),
        "{}",
        answer["reason"]
            .as_str()
            .unwrap_or("the serve refused the rebuild")
    );
    let status = CliQuery {
        route: Route::Status,
        path: Vec::new(),
        params: Vec::new(),
    };
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = via_serve(serve, &status)?;
        match now["rebuild"]["state"].as_str() {
            Some("running") => continue,
            Some("failed") => anyhow::bail!(
                "the rebuild failed: {}",
                now["rebuild"]["error"]
                    .as_str()
                    .unwrap_or("no reason given")
            ),
            _ => return Ok(now["rebuild"].clone()),
        }
    }
}

/// `ledger rebuild` on a directory no serve runs on.
pub async fn rebuild_locally(config: &LedgerConfig, options: &LogOptions) -> anyhow::Result<Value> {
    let log = crate::log_admin::open_existing(options).await?;
    let read_side = config.read_side_for(options, "rebuild");
    let mut read_models = crate::serve::open_read_models(&read_side)?;
    let started = std::time::Instant::now();
    let stats = read_models.rebuild_offline(log.as_ref()).await?;
    Ok(serde_json::json!({
        "generation": read_models.generation(),
        "state": "done",
        "events_folded": stats.applied,
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

pub use crate::tabular::{print, Output};
