//! `verify`: every aggregate's chain, sequence, legality and invariants, the trial balance
//! after every money event, and a digest over all chain heads.

use std::collections::BTreeMap;

use crate::follow::{Followed, Followers};
use event_log::{LogReader, StoredRecord, Topic, TopicPartition};
use order_events::codec::{self, DecodeError};
use order_events::envelope::{Event, EventEnvelope, EventHash};
use order_events::money::{Amount, Currency};
use projections::model::JournalEntry;
use projections::Projector;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::checkpoint::{Checkpoint, Departure};
use crate::scan::{start_offset, Start, READ_CHUNK};
use crate::state::{aggregate_name, fold_in_place, Misfit, State};
use crate::{unique, ReplayError};
use order_events::merkle;

/// What kind of break `verify` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The record is not an event this build can read (bad tag, truncated, unknown type, ...).
    Undecodable,
    /// The record's content does not hash to the hash stored with it: it was changed.
    HashMismatch,
    /// A sequence number was skipped: an event is missing.
    SequenceGap,
    /// A sequence number came again or went back: an event is repeated or reordered.
    SequenceOutOfOrder,
    /// The event's `prev_hash` is not the hash of the aggregate's previous event.
    ChainBroken,
    /// The event does not fit the state before it (the domain refuses to fold it).
    IllegalTransition,
    /// After the event, the aggregate breaks one of its invariants.
    InvariantBroken,
    /// A money event's journal entries do not balance: the trial balance is no longer zero.
    TrialBalanceBroken,
    /// Two events carry one event id: ids must name one event in the whole log.
    DuplicateEventId,
    /// An event was recorded before the event ahead of it in its partition: the writer stamps
    /// `recorded_at` never earlier than the partition's last event, so time read from the log
    /// (`--since`, `--as-of`) means the same as order in it.
    RecordedAtWentBack,
    /// The log does not extend the checkpoint `verify --checkpoint` was given: records it
    /// covered were removed or rewritten.
    CheckpointNotExtended,
}

/// One break, located precisely.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    pub kind: BreakKind,
    pub partition: u32,
    pub offset: u64,
    /// `kind:id`, when the record said which aggregate it belongs to.
    pub aggregate: Option<String>,
    pub sequence: Option<u64>,
    pub expected: String,
    pub found: String,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Where the read began; from anywhere but the beginning, `digest` covers only the
    /// aggregates with events since then.
    pub start: Start,
    pub events: u64,
    pub aggregates: u64,
    /// Aggregates whose history began before `start`: their first event read was taken as the
    /// chain's anchor (its sequence and `prev_hash` as given) and their state is unknown, so
    /// only sequences and chain links were checked for them.
    pub anchored: u64,
    /// Events that posted journal entries; the trial balance was checked after each.
    pub money_events: u64,
    pub breaks: Vec<Break>,
    /// SHA-256 over every aggregate's chain head in canonical order: the same log always gives
    /// the same digest.
    pub digest: String,
    /// The root of the log's Merkle trees over every record's stored bytes (what `checkpoint`
    /// prints): covers content, not only the hashes records state. Only on a read from the
    /// beginning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.breaks.is_empty()
    }
}

/// Every posting's debits and credits so far, per currency: double entry means they are equal
/// after every journal entry, i.e. the trial balance is zero.
#[derive(Debug, Clone, Default)]
pub struct RunningTrialBalance {
    totals: BTreeMap<Currency, (Amount, Amount)>,
}

impl RunningTrialBalance {
    /// Adds `entries`; an entry whose debits and credits differ is the error, described.
    pub fn post(&mut self, entries: &[JournalEntry]) -> Result<(), String> {
        let mut broken = Vec::new();
        for entry in entries {
            let (debits, credits) = self
                .totals
                .entry(entry.currency)
                .or_insert((Amount::ZERO, Amount::ZERO));
            let (debited, credited) = entry.totals();
            *debits += debited;
            *credits += credited;
            if debits != credits {
                broken.push(format!(
                    "{:?} entry debits {debited} and credits {credited} {}: trial balance {} {}",
                    entry.kind,
                    entry.currency,
                    *debits - *credits,
                    entry.currency
                ));
            }
        }
        if broken.is_empty() {
            Ok(())
        } else {
            Err(broken.join("; "))
        }
    }

    /// Debits − credits in `currency` so far.
    pub fn balance(&self, currency: Currency) -> Amount {
        self.totals
            .get(&currency)
            .map_or(Amount::ZERO, |(debits, credits)| *debits - *credits)
    }
}

/// The break an event that did not fold is, and its reason.
fn break_of(misfit: Misfit) -> (BreakKind, String) {
    match misfit {
        Misfit::Illegal(reason) => (BreakKind::IllegalTransition, reason),
        Misfit::Invariant(reason) => (BreakKind::InvariantBroken, reason),
    }
}

/// Follows every aggregate's chain through the log. Memory is bounded by a number of states
/// and a number of chain heads; beyond them both wait on disk (see [`follow`]), so memory does
/// not grow with the log.
#[derive(Default)]
pub struct Verifier {
    /// The settlement rules, whose journal entries the trial-balance check recomputes.
    projector: Projector,
    start: Start,
    followers: Followers,
    partition: Option<u32>,
    breaks: Vec<Break>,
    events: u64,
    anchored: u64,
    money_events: u64,
    trial_balance: RunningTrialBalance,
    /// Every decoded event's id and place, to find an id used twice.
    ids: unique::EventIds,
    /// The latest `recorded_at` in the partition being read.
    recorded_until: Option<chrono::DateTime<chrono::Utc>>,
    /// The log's trees, on a read from the beginning.
    witness: Option<crate::checkpoint::Witness>,
}

impl Verifier {
    /// A verifier of a read from `start`, with the deployment's settlement rules.
    pub fn new(projector: Projector, start: Start) -> Verifier {
        Verifier {
            projector,
            start,
            ..Verifier::default()
        }
    }

    /// The same verifier, also growing the log's Merkle trees (`partitions` of them) and
    /// checking the log extends `kept`, when given: a read from the beginning only.
    pub fn witnessing(self, partitions: usize, kept: Option<Checkpoint>) -> Verifier {
        Verifier {
            witness: Some(crate::checkpoint::Witness::new(partitions, kept)),
            ..self
        }
    }

    /// The same verifier with at most `states` aggregate states, and `heads` chain heads and
    /// as many event ids, in memory (the rest on disk).
    pub fn with_memory_limits(self, states: usize, heads: usize) -> Verifier {
        Verifier {
            followers: Followers::new(states, heads),
            ids: unique::EventIds::new(heads),
            ..self
        }
    }

    /// Checks one record of the events topic. An error is the tool failing (its scratch
    /// store), not a finding.
    pub fn check(&mut self, record: &StoredRecord) -> Result<(), ReplayError> {
        let leaf = merkle::leaf_hash(&record.payload);
        self.check_decoded(record, &codec::decode_event(&record.payload), &leaf)
    }

    /// [`Verifier::check`] of a record already decoded (`codec::decode_event` of its payload)
    /// and hashed into its leaf, so that work can run elsewhere ([`check_all`]). Borrowed: an
    /// envelope is too large to move for nothing.
    pub fn check_decoded(
        &mut self,
        record: &StoredRecord,
        decoded: &Result<EventEnvelope, DecodeError>,
        leaf: &merkle::Digest,
    ) -> Result<(), ReplayError> {
        self.events += 1;
        if self.partition != Some(record.partition) {
            self.partition = Some(record.partition);
            self.recorded_until = None;
            self.followers.finish_partition()?;
        }
        if let Some(witness) = &mut self.witness {
            witness.push_leaf(record.partition, record.offset, *leaf);
        }
        let located =
            |kind, aggregate: Option<String>, sequence, expected: String, found: String| Break {
                kind,
                partition: record.partition,
                offset: record.offset,
                aggregate,
                sequence,
                expected,
                found,
            };
        let envelope = match decoded {
            Ok(envelope) => envelope,
            Err(error) => {
                let kind = match error {
                    DecodeError::HashMismatch { .. } => BreakKind::HashMismatch,
                    _ => BreakKind::Undecodable,
                };
                let expected = match kind {
                    BreakKind::HashMismatch => "content that hashes to the stored hash".to_owned(),
                    _ => "an event record".to_owned(),
                };
                // A changed record whose body still parses says whose event it was and what it
                // links to: report it there, and follow the chain through its stored hash, so the
                // next event is not reported as well. Its state is unknowable from here on.
                match codec::split_raw_event_unverified(&record.payload) {
                    Ok(raw) => {
                        let name = aggregate_name(raw.aggregate_kind, &raw.aggregate_id);
                        self.breaks.push(located(
                            kind,
                            Some(name.clone()),
                            Some(raw.sequence),
                            expected,
                            error.to_string(),
                        ));
                        let head = Followed::from_head(raw.sequence, raw.hash);
                        match self.followers.find(&name)? {
                            Some(followed) => *followed = head,
                            None => {
                                self.followers.insert(name, head)?;
                            }
                        }
                    }
                    Err(_) => {
                        let aggregate = record
                            .key
                            .as_ref()
                            .map(|key| String::from_utf8_lossy(key).into_owned());
                        self.breaks.push(located(
                            kind,
                            aggregate,
                            None,
                            expected,
                            error.to_string(),
                        ));
                    }
                }
                return Ok(());
            }
        };
        self.ids.add(unique::Sighting {
            event_id: envelope.event_id,
            partition: record.partition,
            offset: record.offset,
        })?;
        self.check_time(envelope, &located);
        self.follow(envelope, located)
    }

    /// `recorded_at` never goes back within a partition.
    fn check_time(
        &mut self,
        envelope: &EventEnvelope,
        located: &impl Fn(BreakKind, Option<String>, Option<u64>, String, String) -> Break,
    ) {
        let at = envelope.recorded_at;
        match self.recorded_until {
            Some(until) if at < until => self.breaks.push(located(
                BreakKind::RecordedAtWentBack,
                Some(aggregate_name(
                    envelope.aggregate_kind,
                    &envelope.aggregate_id,
                )),
                Some(envelope.sequence),
                format!("recorded at or after {}", until.to_rfc3339()),
                format!("recorded at {}", at.to_rfc3339()),
            )),
            _ => self.recorded_until = Some(at),
        }
    }

    fn follow(
        &mut self,
        envelope: &EventEnvelope,
        located: impl Fn(BreakKind, Option<String>, Option<u64>, String, String) -> Break,
    ) -> Result<(), ReplayError> {
        let name = aggregate_name(envelope.aggregate_kind, &envelope.aggregate_id);
        // Seen before (in another partition too: then as a head, state unknown), or new.
        if self.followers.find(&name)?.is_none() {
            let followed = if self.start != Start::Beginning && envelope.sequence > 1 {
                // Its history began before the read did: anchor the chain here.
                self.anchored += 1;
                Followed::from_head(envelope.sequence - 1, envelope.prev_hash)
            } else {
                Followed {
                    state: Some(State::initial(envelope.aggregate_kind)),
                    ..Followed::from_head(0, EventHash::GENESIS)
                }
            };
            self.followers.insert(name.clone(), followed)?;
        }
        let followed = self
            .followers
            .find(&name)?
            .expect("inserted above when missing");
        let sequence = Some(envelope.sequence);
        let expected = followed.sequence + 1;
        let mut broke = false;
        if envelope.sequence != expected {
            let kind = if envelope.sequence > expected {
                BreakKind::SequenceGap
            } else {
                BreakKind::SequenceOutOfOrder
            };
            self.breaks.push(located(
                kind,
                Some(name.clone()),
                sequence,
                format!("sequence {expected}"),
                format!("sequence {}", envelope.sequence),
            ));
            broke = true;
        }
        if envelope.prev_hash != followed.hash {
            self.breaks.push(located(
                BreakKind::ChainBroken,
                Some(name.clone()),
                sequence,
                format!("prev_hash {}", followed.hash.to_hex()),
                format!("prev_hash {}", envelope.prev_hash.to_hex()),
            ));
            broke = true;
        }
        // Folded where it lies: the state is large, and moving it out and back was a tenth of
        // the checker's copying.
        let folded = match (followed.state.as_mut(), broke) {
            (Some(state), false) => match fold_in_place(state, &envelope.event) {
                Ok(()) => {
                    let entries = match (&*state, &envelope.event) {
                        (State::Order(order), Event::Order(event)) => {
                            let header =
                                order.header.as_ref().expect("a folded order has a header");
                            self.projector
                                .journal_entries(header, &mut followed.commission, envelope, event)
                                .map(|(entries, _)| entries)
                        }
                        (State::Account(_), Event::Account(event)) => {
                            // The process's accruals post nothing (their order events did).
                            Some(Projector::account_entries(envelope, event))
                                .filter(|entries| !entries.is_empty())
                        }
                        _ => None,
                    };
                    if let Some(entries) = entries {
                        self.money_events += 1;
                        if let Err(reason) = self.trial_balance.post(&entries) {
                            self.breaks.push(located(
                                BreakKind::TrialBalanceBroken,
                                Some(name.clone()),
                                sequence,
                                "balanced journal entries (trial balance zero)".to_owned(),
                                reason,
                            ));
                        }
                    }
                    true
                }
                Err(misfit) => {
                    let (kind, reason) = break_of(misfit);
                    self.breaks.push(located(
                        kind,
                        Some(name.clone()),
                        sequence,
                        format!("{} to fit the state before it", envelope.event.type_name()),
                        reason,
                    ));
                    false
                }
            },
            _ => false,
        };
        if !folded {
            // Broken here: its state is unknowable from here on.
            followed.state = None;
        }
        // Follow the chain from what is there, so one break is reported once, not at every
        // later event of the aggregate.
        followed.sequence = envelope.sequence;
        followed.hash = envelope.hash;
        Ok(())
    }

    /// The report, with the digest over the chain heads (streamed: the heads are not
    /// collected).
    pub fn finish(self) -> Result<VerifyReport, ReplayError> {
        self.finish_each(|_| {})
    }

    /// The report and the chain heads the digest was computed over.
    pub fn finish_with_heads(self) -> Result<(VerifyReport, Vec<Head>), ReplayError> {
        let mut heads = Vec::new();
        let report = self.finish_each(|head| heads.push(head.clone()))?;
        Ok((report, heads))
    }

    fn finish_each(mut self, each: impl FnMut(&Head)) -> Result<VerifyReport, ReplayError> {
        // The event ids' merge and the heads' merge are independent: one on another thread.
        let ids = std::mem::take(&mut self.ids);
        let followers = std::mem::take(&mut self.followers);
        let (repeated, digested) = std::thread::scope(|scope| {
            let repeated = scope.spawn(|| ids.repeated());
            let digested = digest_heads(followers, each);
            let repeated = repeated
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (repeated, digested)
        });
        let (digest, aggregates) = digested?;
        for repeated in repeated? {
            let unique::Repeated { first, again } = repeated;
            self.breaks.push(Break {
                kind: BreakKind::DuplicateEventId,
                partition: again.partition,
                offset: again.offset,
                aggregate: None,
                sequence: None,
                expected: format!("event id {} once in the log", again.event_id),
                found: format!(
                    "event id {} again; first at partition {} offset {}",
                    again.event_id, first.partition, first.offset
                ),
            });
        }
        let root = self.witness.take().map(|witness| {
            let (checkpoint, departures) = witness.finish();
            self.breaks.extend(departures.into_iter().map(departed));
            checkpoint.root
        });
        Ok(VerifyReport {
            start: self.start,
            events: self.events,
            aggregates,
            anchored: self.anchored,
            money_events: self.money_events,
            breaks: self.breaks,
            digest,
            root,
        })
    }
}

/// A departure from the kept checkpoint, as a break.
fn departed(departure: Departure) -> Break {
    let (partition, offset, expected) = match &departure {
        Departure::Removed {
            partition,
            covered,
            end,
            ..
        } => (
            *partition,
            *end,
            format!("at least the {covered} records the checkpoint covers"),
        ),
        Departure::Rewritten {
            partition,
            size,
            offset,
        } => (
            *partition,
            *offset,
            format!("the first {size} records the checkpoint covers"),
        ),
    };
    Break {
        kind: BreakKind::CheckpointNotExtended,
        partition,
        offset,
        aggregate: None,
        sequence: None,
        expected,
        found: departure.to_string(),
    }
}

/// The digest over every head `followers` hold, and how many there are; each head to `each`.
fn digest_heads(
    followers: Followers,
    mut each: impl FnMut(&Head),
) -> Result<(String, u64), ReplayError> {
    let mut digest = DigestBuilder::new();
    let mut aggregates = 0;
    followers.heads(|aggregate, sequence, hash| {
        let head = Head {
            aggregate,
            sequence,
            hash: hash.to_hex(),
        };
        digest.add(&head);
        aggregates += 1;
        each(&head);
    })?;
    Ok((digest.finish(), aggregates))
}

/// One aggregate's chain head, as the digest covers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Head {
    /// `kind:id`.
    pub aggregate: String,
    pub sequence: u64,
    /// Lower-case hex of the last event's hash.
    pub hash: String,
}

/// SHA-256 over the heads in order of aggregate name, one `name TAB sequence TAB hash` line
/// each, after a domain-separation prefix.
pub fn digest_of(heads: &[Head]) -> String {
    let mut digest = DigestBuilder::new();
    heads.iter().for_each(|head| digest.add(head));
    digest.finish()
}

/// [`digest_of`], one head at a time (they must come in order of aggregate name).
struct DigestBuilder(Sha256);

impl DigestBuilder {
    fn new() -> DigestBuilder {
        let mut hasher = Sha256::new();
        hasher.update(b"order-ledger/digest/v1\0");
        DigestBuilder(hasher)
    }

    fn add(&mut self, head: &Head) {
        let line = format!("{}\t{}\t{}\n", head.aggregate, head.sequence, head.hash);
        self.0.update(line.as_bytes());
    }

    fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// Reads every event of the log and checks it with the default settlement rules; see
/// [`Verifier`].
pub async fn verify(log: &dyn LogReader) -> Result<VerifyReport, ReplayError> {
    verify_from(log, &Projector::default(), Start::Beginning).await
}

/// Reads the events of the log from `start` and checks them with `projector`'s settlement
/// rules; see [`Verifier`].
pub async fn verify_from(
    log: &dyn LogReader,
    projector: &Projector,
    start: Start,
) -> Result<VerifyReport, ReplayError> {
    verify_against(log, projector, start, None).await
}

/// [`verify_from`], also checking (on a read from the beginning) that the log extends `kept`:
/// each way it does not is a [`BreakKind::CheckpointNotExtended`]. One pass.
pub async fn verify_against(
    log: &dyn LogReader,
    projector: &Projector,
    start: Start,
    kept: Option<Checkpoint>,
) -> Result<VerifyReport, ReplayError> {
    let mut verifier = Verifier::new(projector.clone(), start);
    if start == Start::Beginning {
        let partitions = log.end_offsets(Topic::Events).await?.len();
        verifier = verifier.witnessing(partitions, kept);
    } else if kept.is_some() {
        return Err(ReplayError::Output(
            "a checkpoint is checked on a read from the beginning only".into(),
        ));
    }
    check_all(log, start, &mut verifier).await?;
    verifier.finish()
}

/// Records, what each decoded to, and each one's leaf hash.
type DecodedChunk = (
    Vec<StoredRecord>,
    Vec<Result<EventEnvelope, DecodeError>>,
    Vec<merkle::Digest>,
);

/// Checks every event from `start` with `verifier`, as [`scan_from`] would visit them, in a
/// pipeline over the machine's cores: this task reads chunks, each chunk is decoded (hash
/// checked) on a blocking thread, and the verifier checks the decoded chunks in order on a
/// thread of its own. (Reading and checking on one thread made that thread the bottleneck of
/// `verify` while decoding waited: BENCHMARKS.md.)
pub async fn check_all(
    log: &dyn LogReader,
    start: Start,
    verifier: &mut Verifier,
) -> Result<(), ReplayError> {
    let (to_checker, mut chunks) = tokio::sync::mpsc::channel::<DecodedChunk>(DECODED_MAX);
    let mut owned = std::mem::take(verifier);
    let checker = tokio::task::spawn_blocking(move || {
        let mut checked = Ok(());
        // On an error the receiver is dropped, which stops the reading side.
        while let Some((records, decoded, leaves)) = chunks.blocking_recv() {
            checked = records.iter().zip(&decoded).zip(&leaves).try_for_each(
                |((record, decoded), leaf)| owned.check_decoded(record, decoded, leaf),
            );
            if checked.is_err() {
                break;
            }
        }
        (owned, checked)
    });
    let fed = feed(log, start, to_checker).await;
    let (owned, checked) = checker
        .await
        .map_err(|error| ReplayError::Decoding(error.to_string()))?;
    *verifier = owned;
    fed.and(checked)
}

/// Chunks being decoded at most: enough to keep the cores busy while the checker works.
const DECODING_MAX: usize = 4;

/// Decoded chunks waiting for the checker at most (about 1 MiB each): enough that decoding
/// goes on while the checker finishes a partition (its states out, its heads in), which takes
/// it a fraction of a second on the 10 M-event log.
const DECODED_MAX: usize = 32;

/// Reads every event from `start`, has each chunk decoded on a blocking thread
/// ([`DECODING_MAX`] at a time at most) and sends the decoded chunks, in order, to `checker`.
async fn feed(
    log: &dyn LogReader,
    start: Start,
    checker: tokio::sync::mpsc::Sender<DecodedChunk>,
) -> Result<(), ReplayError> {
    let topic = log.topics().name(Topic::Events);
    let ends = log.end_offsets(Topic::Events).await?;
    let mut decoding = std::collections::VecDeque::new();
    for (partition, &end) in ends.iter().enumerate() {
        let tp = TopicPartition::new(topic.clone(), partition as u32);
        let mut offset = start_offset(log, &tp, end, start).await?;
        while offset < end {
            let mut records = log.read(&tp, offset, READ_CHUNK).await?;
            let Some(last) = records.last() else { break };
            offset = last.next_offset();
            records.retain(|record| record.offset < end);
            decoding.push_back(tokio::task::spawn_blocking(move || decode_chunk(records)));
            if decoding.len() >= DECODING_MAX && !pass_on(&mut decoding, &checker).await? {
                return Ok(());
            }
        }
    }
    while !decoding.is_empty() {
        if !pass_on(&mut decoding, &checker).await? {
            break;
        }
    }
    Ok(())
}

/// Sends the oldest decoding chunk to `checker` once decoded; `false` when the checker stopped.
async fn pass_on(
    decoding: &mut std::collections::VecDeque<tokio::task::JoinHandle<DecodedChunk>>,
    checker: &tokio::sync::mpsc::Sender<DecodedChunk>,
) -> Result<bool, ReplayError> {
    let Some(oldest) = decoding.pop_front() else {
        return Ok(true);
    };
    let chunk = oldest
        .await
        .map_err(|error| ReplayError::Decoding(error.to_string()))?;
    Ok(checker.send(chunk).await.is_ok())
}

fn decode_chunk(records: Vec<StoredRecord>) -> DecodedChunk {
    let decoded = records
        .iter()
        .map(|record| codec::decode_event(&record.payload))
        .collect();
    let leaves = records
        .iter()
        .map(|record| merkle::leaf_hash(&record.payload))
        .collect();
    (records, decoded, leaves)
}
