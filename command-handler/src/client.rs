//! The submitting side: publish commands the way any service would, and wait for their results.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use event_log::{
    partition_for, Headers, Log, LogError, OutgoingRecord, Topic, TopicPartition, CONTENT_TYPE_JSON,
};
use order_events::codec::json;
use order_events::{AggregateRef, CommandEnvelope};
use uuid::Uuid;

use crate::inbox::{Inbox, NotTaken};
use crate::result::{CommandResult, ResultRecord};

/// A published command and where to look for its result.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub command_id: Uuid,
    /// The aggregate the command addresses: a command id is scoped to it, so its result is
    /// the one with this id on this aggregate.
    pub aggregate: AggregateRef,
    /// The command's content digest (`order_events::codec::command_digest`): another command
    /// reusing the id has another, and gets its own answer.
    pub digest: String,
    /// The commands (and results) partition of the command's aggregate.
    pub partition: u32,
    /// The results partition's end when the command was published: its result comes after.
    pub results_from: u64,
}

/// The record of a JSON command: keyed by its aggregate id, with the routing headers.
pub fn json_record(log: &dyn Log, line: &[u8], envelope: &CommandEnvelope) -> OutgoingRecord {
    let headers = Headers::for_message(
        CONTENT_TYPE_JSON,
        envelope.command.type_name(),
        envelope.command.schema_version(),
    );
    OutgoingRecord::new(
        log.topics().name(Topic::Commands),
        envelope.command.target().id,
        headers,
        line.to_vec(),
    )
}

/// Publishes a JSON command as-is, keyed by its aggregate id, with the routing headers.
pub async fn publish_json(
    log: &dyn Log,
    line: &[u8],
    envelope: &CommandEnvelope,
) -> Result<Submitted, LogError> {
    let target = envelope.command.target();
    let partition = partition_for(target.id.as_bytes(), log.partitions(Topic::Commands));
    let results_from = log.end_offsets(Topic::CommandResults).await?[partition as usize];
    log.publish(vec![json_record(log, line, envelope)]).await?;
    Ok(Submitted {
        command_id: envelope.command_id,
        aggregate: target,
        digest: order_events::codec::command_digest(envelope),
        partition,
        results_from,
    })
}

/// Publishes a command, encoding it as JSON.
pub async fn publish(log: &dyn Log, envelope: &CommandEnvelope) -> Result<Submitted, LogError> {
    publish_json(
        log,
        json::encode_command_json(envelope).as_bytes(),
        envelope,
    )
    .await
}

/// Waits up to `limit` for the result of a command published earlier (it may be in the log
/// already: this reads from `submitted.results_from` on). For a process that waits for many
/// commands as they are published, [`Results`] follows the topic once for all of them.
pub async fn await_result(
    log: &dyn Log,
    submitted: &Submitted,
    limit: Duration,
) -> Result<Option<CommandResult>, LogError> {
    let results = TopicPartition::new(
        log.topics().name(Topic::CommandResults),
        submitted.partition,
    );
    let deadline = tokio::time::Instant::now() + limit;
    let mut offset = submitted.results_from;
    loop {
        let records = log.read(&results, offset, FOLLOW_BATCH).await?;
        if let Some(last) = records.last() {
            offset = last.next_offset();
        }
        let answer = records
            .iter()
            .filter_map(CommandResult::from_record)
            .find(|r| {
                r.answers(
                    submitted.command_id,
                    &submitted.aggregate,
                    &submitted.digest,
                )
            });
        if answer.is_some() {
            return Ok(answer);
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        if records.is_empty() {
            // Only this partition counts: the others are "seen" to the end of time.
            let mut seen = vec![u64::MAX; log.partitions(Topic::CommandResults) as usize];
            seen[submitted.partition as usize] = offset;
            log.wait_for_records(Topic::CommandResults, &seen, deadline - now)
                .await?;
        }
    }
}

/// The results of the commands this process publishes, handed to whoever waits for them.
///
/// One follower task reads the results topic for every waiter in the process, woken by the log
/// (`LogReader::wait_for_records`) rather than polling, and gives each result to the waiter whose
/// command it answers (same id, aggregate and digest). A waiter registers before its command
/// is published, so its result, appended after the command, cannot pass unseen. While nobody
/// waits the follower skips what arrives without reading it. Dropping `Results` stops it.
pub struct Results {
    log: Arc<dyn Log>,
    shared: Arc<Shared>,
    follower: tokio::task::JoinHandle<()>,
    /// The handler of this process, when commands are handed to it rather than published.
    inbox: Option<Inbox>,
}

/// Waiters by command id.
#[derive(Default)]
struct Waiting {
    next_ticket: u64,
    by_command: HashMap<Uuid, Vec<Waiter>>,
}

/// The waiters and the follower's wake-up when the first one arrives.
#[derive(Default)]
struct Shared {
    waiting: Mutex<Waiting>,
    registered: tokio::sync::Notify,
}

struct Waiter {
    ticket: u64,
    aggregate: AggregateRef,
    digest: String,
    answer: tokio::sync::oneshot::Sender<CommandResult>,
}

/// How long one wait of the follower for new results lasts before it looks again.
const FOLLOW_WAIT: Duration = Duration::from_millis(500);

/// Most results the follower reads from a partition at a time.
const FOLLOW_BATCH: usize = 500;

fn lock(waiting: &Mutex<Waiting>) -> MutexGuard<'_, Waiting> {
    waiting
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Results {
    /// Starts following the results topic of `log` from its end now.
    pub async fn follow(log: Arc<dyn Log>) -> Result<Results, LogError> {
        let from = log.end_offsets(Topic::CommandResults).await?;
        let shared = Arc::new(Shared::default());
        let follower = tokio::spawn(follow(log.clone(), shared.clone(), from));
        Ok(Results {
            log,
            shared,
            follower,
            inbox: None,
        })
    }

    /// Hands commands to the handler of this process through `inbox` (see
    /// [`crate::inbox`]), publishing only those it cannot take.
    pub fn with_inbox(mut self, inbox: Inbox) -> Results {
        self.inbox = Some(inbox);
        self
    }

    /// Publishes a JSON command as-is (or hands it to the handler, [`Results::with_inbox`])
    /// and waits up to `limit` for its result (`None`: none came in time; the command is in
    /// the log and will be decided once all the same).
    pub async fn submit_json(
        &self,
        line: &[u8],
        envelope: &CommandEnvelope,
        limit: Duration,
    ) -> Result<Option<CommandResult>, LogError> {
        let aggregate = envelope.command.target();
        let digest = order_events::codec::command_digest(envelope);
        let (ticket, answer) = self.register(envelope.command_id, aggregate, digest);
        let _unregister = Unregister {
            waiting: &self.shared.waiting,
            command_id: envelope.command_id,
            ticket,
        };
        let record = || json_record(self.log.as_ref(), line, envelope);
        let handed = match &self.inbox {
            Some(inbox) => inbox.submit(record(), envelope.clone()).await,
            None => Err(NotTaken),
        };
        if handed.is_err() {
            self.log.publish(vec![record()]).await?;
        }
        match tokio::time::timeout(limit, answer).await {
            Ok(Ok(result)) => Ok(Some(result)),
            // The follower ended (the log failed); nothing more will come.
            Ok(Err(_)) => Err(LogError::Storage("the results follower stopped".to_owned())),
            Err(_) => Ok(None),
        }
    }

    fn register(
        &self,
        command_id: Uuid,
        aggregate: AggregateRef,
        digest: String,
    ) -> (u64, tokio::sync::oneshot::Receiver<CommandResult>) {
        let (answer, receiver) = tokio::sync::oneshot::channel();
        let mut waiting = lock(&self.shared.waiting);
        waiting.next_ticket += 1;
        let ticket = waiting.next_ticket;
        waiting
            .by_command
            .entry(command_id)
            .or_default()
            .push(Waiter {
                ticket,
                aggregate,
                digest,
                answer,
            });
        drop(waiting);
        // Wakes a follower that sleeps for want of waiters.
        self.shared.registered.notify_one();
        (ticket, receiver)
    }
}

impl Drop for Results {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

/// Takes a waiter out again when its wait ends, answered or not.
struct Unregister<'a> {
    waiting: &'a Mutex<Waiting>,
    command_id: Uuid,
    ticket: u64,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        let mut waiting = lock(self.waiting);
        if let Some(list) = waiting.by_command.get_mut(&self.command_id) {
            list.retain(|w| w.ticket != self.ticket);
            if list.is_empty() {
                waiting.by_command.remove(&self.command_id);
            }
        }
    }
}

/// The follower: waits for the results partitions to grow, reads what is new and hands each
/// result to its waiter. While nobody waits it skips what arrives and sleeps until someone
/// registers, asking the log nothing. A failing log is retried with backoff; waiters meanwhile
/// run into their own limits.
async fn follow(log: Arc<dyn Log>, shared: Arc<Shared>, mut positions: Vec<u64>) {
    let mut failures = 0;
    loop {
        match follow_once(log.as_ref(), &shared, &mut positions).await {
            Ok(()) => failures = 0,
            Err(error) => {
                failures += 1;
                tracing::warn!(%error, "following the command results failed; retrying");
                tokio::time::sleep(event_log::retry_backoff(failures)).await;
            }
        }
    }
}

async fn follow_once(
    log: &dyn Log,
    shared: &Shared,
    positions: &mut Vec<u64>,
) -> Result<(), LogError> {
    let registered = shared.registered.notified();
    tokio::pin!(registered);
    registered.as_mut().enable();
    if lock(&shared.waiting).by_command.is_empty() {
        let ends = log.end_offsets(Topic::CommandResults).await?;
        // The ends were read before this look: a waiter registering after it publishes after
        // it, so its result lies past these ends.
        if lock(&shared.waiting).by_command.is_empty() {
            *positions = ends;
            registered.await;
            return Ok(());
        }
    }
    log.wait_for_records(Topic::CommandResults, positions, FOLLOW_WAIT)
        .await?;
    let topic = log.topics().name(Topic::CommandResults);
    for (partition, position) in positions.iter_mut().enumerate() {
        let tp = TopicPartition::new(topic.clone(), partition as u32);
        loop {
            let records = log.read(&tp, *position, FOLLOW_BATCH).await?;
            let Some(last) = records.last() else {
                break;
            };
            *position = last.next_offset();
            for result in records.iter().filter_map(CommandResult::from_record) {
                hand_over(&shared.waiting, result);
            }
            if records.len() < FOLLOW_BATCH {
                break;
            }
        }
    }
    Ok(())
}

/// Gives `result` to the first waiter whose command it answers.
fn hand_over(waiting: &Mutex<Waiting>, result: CommandResult) {
    let mut waiting = lock(waiting);
    let Some(list) = waiting.by_command.get_mut(&result.command_id) else {
        return;
    };
    let found = list
        .iter()
        .position(|w| result.answers(result.command_id, &w.aggregate, &w.digest));
    if let Some(index) = found {
        let waiter = list.swap_remove(index);
        let _ = waiter.answer.send(result);
    }
}
